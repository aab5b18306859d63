"""Reference data: federal categories, the course catalog, name pools, and the words of marks,
portfolios and readiness indicators."""

from __future__ import annotations

from app.models import Visibility

# Federal race/ethnicity categories (OMB 1997, as reported to NCES).
HISPANIC = "Hispanic or Latino"
WHITE = "White"
BLACK = "Black or African American"
ASIAN = "Asian"
NATIVE = "American Indian or Alaska Native"
PACIFIC = "Native Hawaiian or Other Pacific Islander"
MULTIRACIAL = "Two or More Races"
ETHNICITIES = (HISPANIC, WHITE, BLACK, ASIAN, NATIVE, PACIFIC, MULTIRACIAL)

GENDERS = ("female", "male", "nonbinary")

ELEMENTARY, MIDDLE, HIGH = "elementary", "middle", "high"
LEVEL_GRADES = {ELEMENTARY: range(0, 6), MIDDLE: range(6, 9), HIGH: range(9, 13)}
# Typical campus enrolments, which set the number of schools of each level.
LEVEL_SCHOOL_SIZE = {ELEMENTARY: 450, MIDDLE: 650, HIGH: 900}
LEVEL_SUFFIX = {ELEMENTARY: "Elementary School", MIDDLE: "Middle School", HIGH: "High School"}
# Slightly fewer students in later high-school grades, as dropouts and early graduates leave.
GRADE_WEIGHTS = {9: 1.08, 10: 1.0, 11: 0.96, 12: 0.92}


# Course catalog: subject -> one (title, code) per grade of the level.
_Course = tuple[str, str]
CORE_COURSES: dict[str, dict[str, tuple[_Course, ...]]] = {
    MIDDLE: {
        "English": (("English Language Arts 6", "ELA6"), ("English Language Arts 7", "ELA7"),
                    ("English Language Arts 8", "ELA8")),
        "Mathematics": (("Math 6", "MTH6"), ("Math 7", "MTH7"), ("Math 8", "MTH8")),
        "Science": (("Science 6", "SCI6"), ("Science 7", "SCI7"), ("Science 8", "SCI8")),
        "Social Studies": (("Contemporary World Cultures", "CWC6"), ("Texas History", "TXH7"),
                           ("U.S. History to 1877", "USH8")),
    },
    HIGH: {
        "English": (("English I", "ENG1"), ("English II", "ENG2"), ("English III", "ENG3"),
                    ("English IV", "ENG4")),
        "Mathematics": (("Algebra I", "ALG1"), ("Geometry", "GEOM"), ("Algebra II", "ALG2"),
                        ("Precalculus", "PCAL")),
        "Science": (("Biology", "BIO"), ("Chemistry", "CHEM"), ("Physics", "PHYS"),
                    ("Anatomy and Physiology", "ANAT")),
        "Social Studies": (("World Geography", "WGEO"), ("World History", "WHIS"),
                           ("U.S. History", "USHS"), ("Government and Economics", "GOVE")),
    },
}  # fmt: skip

# Electives: (subject, title, code, relative popularity). Students take two different ones.
ELECTIVES: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    MIDDLE: (
        ("World Languages", "Spanish I", "SPN1", 6),
        ("Fine Arts", "Art", "ART", 6),
        ("Fine Arts", "Band", "BAND", 5),
        ("Fine Arts", "Choir", "CHOR", 4),
        ("Fine Arts", "Theatre", "THEA", 3),
        ("Physical Education", "Physical Education", "PE", 12),
        ("Technology Applications", "Computer Literacy", "TECH", 6),
        ("Career and Technical Education", "Career Exploration", "CTE", 4),
    ),
    HIGH: (
        ("World Languages", "Spanish I", "SPN1", 10),
        ("World Languages", "Spanish II", "SPN2", 8),
        ("World Languages", "French I", "FRN1", 3),
        ("Fine Arts", "Art I", "ART1", 6),
        ("Fine Arts", "Band", "BAND", 5),
        ("Fine Arts", "Choir", "CHOR", 4),
        ("Fine Arts", "Theatre Arts I", "THA1", 3),
        ("Career and Technical Education", "Principles of Health Science", "HLTH", 5),
        ("Career and Technical Education", "Principles of Engineering", "ENGR", 4),
        ("Career and Technical Education", "Culinary Arts", "CULN", 4),
        ("Career and Technical Education", "Welding I", "WELD", 2),
        ("Technology Applications", "Computer Science I", "CS1", 5),
        ("Physical Education", "Athletics", "ATHL", 7),
        ("Physical Education", "Health and Wellness", "HLTW", 5),
        ("Social Studies", "AP Psychology", "APPS", 3),
    ),
}
# Elementary homerooms: four core subjects with the homeroom teacher, then two specials.
HOMEROOM_SUBJECTS = (
    ("Reading and Language Arts", "RLA"),
    ("Mathematics", "MATH"),
    ("Science", "SCI"),
    ("Social Studies", "SS"),
)
SPECIALS = (("Fine Arts", "ART"), ("Physical Education", "PE"))

SECTION_TARGET, SECTION_MAX = 25, 30
HOMEROOM_TARGET = 22
CLASSES_PER_TEACHER = 6  # at most; departments are split evenly, so most teach 4-6

PLACE_NAMES = (
    "Oak Ridge", "Cedar Creek", "Willow Springs", "Pecan Grove", "Bluebonnet", "Hillcrest",
    "Meadowbrook", "Stone Oak", "Brushy Creek", "Mesquite", "Live Oak", "Spring Valley",
    "Deer Park", "Sunset Ridge", "Lone Star", "Canyon Vista", "Cypress Bend", "Red Bud",
    "Prairie View", "Walnut Springs", "Eagle Pass", "Forest Glen", "Magnolia", "Sandstone",
    "Rolling Hills", "Timber Creek", "Northwood", "Southfield", "Eastside", "Westwood",
    "Lakeside", "Brookhollow", "Highland Park", "Mockingbird", "Elm Grove", "Barton Hills",
)  # fmt: skip
# Schools named after people use these (a plausible mix of Texan and national figures).
NAMESAKES = (
    "Barbara Jordan", "Sam Houston", "Lorenzo de Zavala", "Sally Ride", "Cesar Chavez",
    "Mae Jemison", "Lyndon B. Johnson", "Sandra Day O'Connor", "Ellen Ochoa", "Hector P. Garcia",
    "Jovita Idar", "Thurgood Marshall", "Ann Richards", "Audie Murphy", "Bessie Coleman",
    "Amelia Earhart", "Frederick Douglass", "Rosa Parks", "Katherine Johnson", "Neil Armstrong",
    "Harriet Tubman", "Raul Yzaguirre", "Emma Tenayuca", "Jane Long", "George Washington Carver",
    "Eleanor Roosevelt", "Booker T. Washington", "Clara Barton", "John F. Kennedy", "Walt Whitman",
)  # fmt: skip
ASIAN_SURNAMES = (
    "Nguyen", "Tran", "Le", "Pham", "Kim", "Lee", "Park", "Choi", "Patel", "Shah", "Singh",
    "Gupta", "Chen", "Wang", "Li", "Zhang", "Liu", "Huang", "Wu", "Yang", "Nakamura", "Tanaka",
    "Santos", "Reyes", "Cruz", "Khan", "Ali", "Vo", "Hoang", "Chang",
)  # fmt: skip
ASIAN_GIVEN = {
    "female": ("Anika", "Priya", "Linh", "Mai", "Hana", "Yuna", "Mei", "Aisha", "Ananya", "Ji-woo"),
    "male": ("Arjun", "Aarav", "Minh", "Duc", "Kenji", "Min-jun", "Wei", "Rohan", "Ravi", "Hiro"),
}
UNISEX_GIVEN = (
    "Alex", "Jordan", "Taylor", "Riley", "Casey", "Jamie", "Avery", "Quinn", "Rowan", "Sage",
    "Skyler", "Emerson", "River", "Charlie", "Remy", "Kai", "Morgan", "Reese", "Finley", "Ari",
)  # fmt: skip
NICKNAMES = {
    "William": "Will", "Robert": "Bobby", "Elizabeth": "Liz", "Katherine": "Kate",
    "Christopher": "Chris", "Michael": "Mike", "Matthew": "Matt", "Nicholas": "Nick",
    "Jennifer": "Jen", "Alexander": "Alex", "Alexandra": "Alex", "Benjamin": "Ben",
    "Samantha": "Sam", "Samuel": "Sam", "Daniel": "Danny", "Jonathan": "Jon", "Joseph": "Joe",
    "Jessica": "Jess", "Rebecca": "Becca", "Victoria": "Tori", "Gabriel": "Gabe",
    "Gabriela": "Gabi", "Francisco": "Paco", "Guadalupe": "Lupe", "Alejandro": "Alex",
    "Jose": "Pepe", "Anthony": "Tony", "Andrew": "Drew", "Margaret": "Maggie", "Isabella": "Bella",
    "Zachary": "Zach", "Timothy": "Tim", "Thomas": "Tom", "Patricia": "Trish", "Abigail": "Abby",
}  # fmt: skip
GUARDIAN_EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")

MARK_COMMENTS = (
    # (lowest score the comment fits, text)
    (90, "Outstanding work this term."),
    (90, "Consistently prepared and a leader in group work."),
    (80, "Solid effort; keep reviewing notes before tests."),
    (80, "Good participation in class discussions."),
    (70, "Steady progress; tutoring on Tuesdays would help."),
    (70, "Please turn in homework on time."),
    (0, "Missing several assignments; let's schedule a conference."),
    (0, "Needs to complete make-up work to raise this grade."),
)
HEADLINES = (
    "Future registered nurse", "Aspiring software engineer", "Exploring health science careers",
    "Interested in law and public service", "Future teacher", "Aspiring welder and fabricator",
    "Planning to study engineering", "Future veterinarian", "Interested in business",
    "Aspiring chef", "Considering military service", "Undecided, exploring options",
    "Future architect", "Interested in the performing arts", "Aspiring electrician",
)  # fmt: skip
# Portfolio item kinds with their share and a few titles each.
PORTFOLIO_KINDS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("interest", 0.24, (
        "Career interest: health science", "Career interest: software development",
        "Exploring veterinary medicine", "Interest in architecture and design",
        "Career cluster: law and public safety", "Interest: culinary arts",
        "Exploring aviation careers", "Interest in teaching", "Exploring the skilled trades",
    )),
    ("assessment", 0.16, (
        "Career aptitude assessment results", "PSAT 8/9 score report", "PSAT/NMSQT score report",
        "Work values survey", "Strengths assessment", "ASVAB career exploration results",
    )),
    ("reflection", 0.2, (
        "Reflection on job shadow day", "What I learned from the science fair",
        "Reflection on first semester goals", "Career fair reflection",
        "Reflection on volunteer hours", "What I learned leading a group project",
    )),
    ("goal", 0.2, (
        "Raise my math grade to a B", "Finish the year with all A's and B's",
        "Earn an industry certification before graduation", "Apply to three colleges",
        "Complete 20 volunteer hours", "Join a club related to my career interest",
        "Take a dual credit course next year", "Improve my reading score",
    )),
    ("artifact", 0.13, (
        "Robotics project write-up", "Art portfolio: self-portrait", "History fair project",
        "Persuasive essay", "Coding project: weather app", "Science fair poster", "Resume draft",
    )),
    ("certification", 0.07, (
        "OSHA 10-Hour General Industry", "CPR and First Aid", "Microsoft Office Specialist: Word",
        "ServSafe Food Handler", "Adobe Certified Professional: Photoshop",
    )),
)  # fmt: skip
PORTFOLIO_BODIES = (
    "I want to learn more about this before choosing my courses for next year.",
    "My counselor suggested I look into the programs at the community college.",
    "This connects to what I enjoy most in class.",
    "I worked on this over several weeks and got feedback from my teacher.",
    "Next step: talk to someone who works in this field.",
    "I was surprised by how much I liked this.",
    "I plan to update this at the end of the semester.",
    "This shows what I can do when I plan ahead.",
)
ITEM_VISIBILITY = (
    (Visibility.PRIVATE.value, 0.4),
    (Visibility.TEACHERS.value, 0.35),
    (Visibility.COORDINATOR.value, 0.25),
)
AP_EXAMS = (
    "AP English Language", "AP U.S. History", "AP Biology", "AP Calculus AB", "AP Psychology",
    "AP Spanish Language", "AP Human Geography",
)  # fmt: skip
IB_EXAMS = ("IB Mathematics SL", "IB English A HL", "IB Biology SL")
CERTIFICATIONS = (
    "Certified Nursing Assistant", "CompTIA A+", "AWS Certified Cloud Practitioner",
    "ServSafe Manager", "AWS D1.1 Structural Welding", "Microsoft Office Specialist Excel",
    "Pharmacy Technician (PTCB)", "NCCER Core",
)  # fmt: skip
MILITARY_BRANCHES = ("U.S. Army", "U.S. Navy", "U.S. Air Force", "U.S. Marine Corps")
