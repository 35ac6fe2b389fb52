/**
 * The dashboard page served at `/` and `/dashboard` by the admin server: one self-contained
 * HTML document (inline CSS and JS, no external resources) so that it runs under the CSP
 * the server sends (`default-src 'self'; script-src 'unsafe-inline'; style-src
 * 'unsafe-inline'; img-src data:`) and needs no build step.
 *
 * The page holds no data itself. It asks for the admin token, keeps it only in
 * sessionStorage (gone with the tab; never localStorage or cookies, which outlive it), and
 * reads everything from the JSON API with `Authorization: Bearer <token>`: `GET /api/status`
 * every second, `PUT /api/nodes/<c>/<n>/state` and `PUT /api/listeners/<l>/cluster` for
 * changes. A 401 drops the token and asks again.
 *
 * Every string from the API reaches the DOM through textContent or setAttribute, never
 * innerHTML: node, cluster and listener names come from a config file, not from us.
 *
 * Hooks for tests and scripts (kept stable): `[data-node="<cluster>/<id>"][data-state]`,
 * `[data-set-state="green|yellow|red"]` inside it, `svg[data-chart="active|rate"]` with
 * `data-samples`, `data-last` and `data-max`; `[data-listener="<name>"][data-cluster]` with
 * `select[data-route]`; `#login`, `#login-message`, `#message`, `#sign-out`.
 */

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
<script>${SCRIPT}</script>
</body>
</html>
`;
