/** The dashboard's CSS (core/admin/dashboard-page.ts), inline under the admin server's CSP. */
export const STYLE = `
:root { color-scheme: dark; --bg: #0e1217; --panel: #161c23; --line: #2a333d; --text: #d8dee6; --dim: #8a96a3;
  --green: #3fb950; --yellow: #d29922; --red: #f85149; --accent: #58a6ff;
  font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
body { margin: 0; background: var(--bg); color: var(--text); }
[hidden] { display: none !important; }
.top { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: baseline; padding: .7rem 1rem;
  background: var(--panel); border-bottom: 1px solid var(--line); }
h1 { font-size: 1.1rem; margin: 0; } h2 { font-size: 1rem; margin: 1.2rem 0 .5rem; }
#meta, .dim { color: var(--dim); } #meta { flex: 1; }
main { padding: 0 1rem 2rem; }
button, select, input { font: inherit; color: inherit; background: #0a0e13; border: 1px solid var(--line);
  border-radius: 4px; padding: .25rem .55rem; }
button { cursor: pointer; } button:hover, select:hover { border-color: var(--accent); }
#message { margin: .7rem 1rem 0; padding: .5rem .75rem; border-radius: 4px; display: flex; gap: 1rem;
  justify-content: space-between; align-items: center; }
#message.error { background: #3b1519; border: 1px solid var(--red); } #message.ok { background: #13281b; border: 1px solid var(--green); }
#login { max-width: 26rem; margin: 3rem auto; padding: 1.2rem; display: grid; gap: .7rem; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; }
#login label { display: grid; gap: .3rem; } #login-message:empty { display: none; } #login-message { color: var(--red); margin: 0; }
.listener { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; padding: .5rem .75rem; margin-bottom: .5rem;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.grid { display: grid; gap: .75rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 370px), 1fr)); }
.node { background: var(--panel); border: 1px solid var(--line); border-left: 6px solid var(--dim); border-radius: 6px; padding: .6rem .75rem; }
.node header { display: flex; flex-wrap: wrap; gap: .25rem .6rem; align-items: baseline; }
.badge { font-weight: bold; text-transform: uppercase; padding: 0 .45rem; border-radius: 3px; color: #0a0e13; background: var(--dim); }
.node[data-state=green] { border-left-color: var(--green); } .node[data-state=green] .badge { background: var(--green); }
.node[data-state=yellow] { border-left-color: var(--yellow); } .node[data-state=yellow] .badge { background: var(--yellow); }
.node[data-state=red] { border-left-color: var(--red); } .node[data-state=red] .badge { background: var(--red); }
.up { color: var(--green); } .down { color: var(--red); font-weight: bold; } .warn { color: var(--red); }
dl { display: grid; grid-template-columns: repeat(2, max-content 1fr); gap: 0 .75rem; margin: .5rem 0; }
dt { color: var(--dim); white-space: nowrap; } dd { margin: 0; text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: .5rem; }
figure { margin: 0; min-width: 0; } figcaption { display: flex; justify-content: space-between; gap: .3rem; color: var(--dim); font-size: .75rem; white-space: nowrap; }
svg { display: block; width: 100%; height: 38px; background: #0a0e13; border: 1px solid var(--line); border-radius: 3px; }
path.line { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
path.area { fill: rgba(88, 166, 255, .16); stroke: none; }
.controls { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .55rem; }
.factor { display: flex; gap: .3rem; align-items: center; margin-left: auto; } .factor input { width: 5.5rem; }
.runtime { color: var(--accent); border: 1px solid var(--accent); border-radius: 3px; padding: 0 .35rem; font-size: .8rem; font-weight: normal; cursor: help; }
.controls .green { color: var(--green); } .controls .yellow { color: var(--yellow); } .controls .red { color: var(--red); }
.controls [aria-pressed=true] { border-color: currentColor; font-weight: bold; }
@media (max-width: 560px) { dl { grid-template-columns: max-content 1fr; } .charts { grid-template-columns: 1fr; } }
`;
