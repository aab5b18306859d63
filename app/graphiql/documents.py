"""The documents GraphiQL's own script sends: its sign-in and the "signed in as" line.

Written once here: the page hands them to the script (`data-` attributes), and allow-list mode
(app/persisted) always registers them, since the sign-in runs before anyone is signed in and
every signed-in user's page asks who they are.
"""

from __future__ import annotations

SIGN_IN = (
    "mutation SignIn($input: LoginInput!) "
    "{ login(input: $input) { token userErrors { code message } } }"
)
WHO_AM_I = "query WhoAmI { viewer { username roles { role } } }"

DOCUMENTS = (SIGN_IN, WHO_AM_I)
