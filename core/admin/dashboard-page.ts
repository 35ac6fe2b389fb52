/**
 * The dashboard page served at `/` and `/dashboard` by the admin server: one self-contained
 * HTML document (inline CSS and JS, no external resources) so that it runs under the CSP
 * the server sends (`default-src 'self'; script-src 'unsafe-inline'; style-src
 * 'unsafe-inline'; img-src data:`) and needs no build step.
 *
 * The page holds no data itself. It asks for the admin token, keeps it only in
 * sessionStorage (gone with the tab; never localStorage or cookies, which outlive it), and
 * reads everything from the JSON API with `Authorization: Bearer <token>`: `GET /api/status`
 * every second; `PUT /api/nodes/<c>/<n>/state`, `PUT /api/nodes/<c>/<n>/factor` (`{ factor }`,
 * a number > 0) and `PUT /api/listeners/<l>/cluster` for changes. A 401 drops the token and
 * asks again; any other refusal shows the API's `{ error }` text in the message area.
 *
 * Controls the operator is using are not reset under their hand by the refresh: the
 * listener's select while its change is on its way, a node's factor input while it has the
 * focus (or its set is on its way); after a successful set the input shows the new factor.
 *
 * Changes made through the API that override the config file (`runtimeChanges` in the
 * status: factors, routes, added and removed nodes; they outlive restarts until the file
 * changes the same thing) carry a badge saying what the file says: a node's factor ("set at
 * run time; file says 1"), a node added at run time, a listener's route ("file says a"),
 * and the nodes removed at run time, on their cluster's heading.
 *
 * Every string from the API reaches the DOM through textContent or setAttribute, never
 * innerHTML: node, cluster and listener names come from a config file, not from us.
 *
 * Hooks for tests and scripts (kept stable): `[data-node="<cluster>/<id>"][data-state]`,
 * inside it `[data-set-state="green|yellow|red"]`, `input[data-factor]` and
 * `button[data-set-factor]` (Enter in the input sets too), `dd[data-field="loadFactor"]`
 * (and the other fields), `svg[data-chart="active|rate"]` with `data-samples`, `data-last`
 * and `data-max`; `[data-listener="<name>"][data-cluster]` with `select[data-route]`;
 * `[data-runtime="factor|added"]` inside a node, `[data-runtime="route"]` inside a listener,
 * `[data-runtime="removed"]` inside `[data-cluster-name="<name>"]` (present only while the
 * change is in force); `#login`, `#login-message`, `#message`, `#message-text`, `#sign-out`.
 *
 * The script is two strings in one inline script, in strict mode: the helpers
 * (core/admin/dashboard-helpers.ts) then the page's logic (core/admin/dashboard-script.ts).
 */

import { HELPERS } from './dashboard-helpers.ts';
import { SCRIPT } from './dashboard-script.ts';
import { STYLE } from './dashboard-style.ts';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proto Balance</title>
<style>${STYLE}</style>
</head>
<body>
<div class="top">
  <h1>Proto Balance</h1>
  <span id="meta"></span>
  <button type="button" id="sign-out" hidden>Sign out</button>
</div>
<div id="message" role="status" hidden><span id="message-text"></span><button type="button" id="message-close" aria-label="Dismiss">×</button></div>
<form id="login" hidden autocomplete="off">
  <label>Admin token<input type="password" id="token" name="token" autocomplete="off" required></label>
  <p class="dim">Kept for this tab only (sessionStorage). It is in the state directory's admin-token file, or the config's admin.token.</p>
  <p id="login-message" role="alert"></p>
  <button type="submit">Sign in</button>
</form>
<main id="board" hidden>
  <h2>Listeners</h2>
  <div id="listener-list"></div>
  <div id="cluster-list"></div>
</main>
<script>'use strict';
${HELPERS}
${SCRIPT}</script>
</body>
</html>
`;
