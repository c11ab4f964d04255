// Follows the page's one link at once: how a form's answer leads to another site (the
// Content-Security-Policy's `form-action 'self'` stops a form's redirect from leaving).
"use strict";
location.replace(document.getElementById("leave").href);
