/** The dashboard page served at `/dashboard` by the admin server (being written). */
export const DASHBOARD_HTML = '<!doctype html><title>Proto Balance</title><p>dashboard</p>';
