import type { Attention, CredentialView, LastRotation } from './dashboard-data';

/**
 * The dashboard as one self-contained HTML page: a semantic table, inline CSS, no script and
 * no front-end build. Every value is escaped; the views it renders carry no secret. Colours
 * keep a contrast of at least 4.5:1 (WCAG AA) and every state is also spelled out in words.
 */

const DAY_MS = 86_400_000;

const LABEL: Record<Attention, string> = { failed: 'Failed', degraded: 'Degraded', drifted: 'Drifted', expired: 'Expired', running: 'Running' };

export function renderDashboard(rows: CredentialView[], now: Date): string {
  const needing = rows.filter((r) => r.attention && r.attention !== 'running').length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>Credential rotation: ${rows.length} credential(s)</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>PostgreSQL credential rotation</h1>
<p>${rows.length} credential(s); <strong>${needing}</strong> need attention. Generated ${esc(when(now.toISOString()))}; refreshes every 30 s.</p>
</header>
<main>
<table>
<caption>Every configured credential: its live secret's age and expiry, the next rotation, health, and the last rotation's stages, consumers and events</caption>
<thead><tr>
<th scope="col">Credential</th><th scope="col">State</th><th scope="col">Age</th><th scope="col">Expires</th><th scope="col">Next due</th><th scope="col">Health</th><th scope="col">Last rotation</th><th scope="col">Stages</th><th scope="col">Consumers</th><th scope="col">Last events</th>
</tr></thead>
<tbody>
${rows.map((row) => renderRow(row, now)).join('\n')}
</tbody>
</table>
</main>
</body>
</html>
`;
}

function renderRow(row: CredentialView, now: Date): string {
  const state = row.attention ? `<span class="badge ${row.attention}">${LABEL[row.attention]}</span>` : '<span class="badge ok">OK</span>';
  return `<tr data-credential="${esc(row.id)}" data-attention="${row.attention ?? 'none'}"${row.attention && row.attention !== 'running' ? ' class="attention"' : ''}>
<th scope="row">${esc(row.id)}<div class="sub">${esc(row.strategy)} · ${esc(row.role ?? 'role unknown')}</div></th>
<td>${state}</td>
<td>${row.rotatedAt ? `${days(now.getTime() - Date.parse(row.rotatedAt))}<div class="sub">since ${esc(day(row.rotatedAt))}</div>` : 'unknown'}</td>
<td>${row.expiresOn ? `${esc(day(row.expiresOn))}<div class="sub">${relative(Date.parse(row.expiresOn) - now.getTime())}</div>` : 'no expiry'}</td>
<td>${row.nextDue ? `${esc(day(row.nextDue))}<div class="sub">${relative(Date.parse(row.nextDue) - now.getTime())}</div>` : 'no live secret'}</td>
<td>${health(row)}</td>
<td>${lastRotation(row.last)}</td>
<td>${stages(row.last)}</td>
<td>${targets(row.last)}</td>
<td>${events(row.last)}</td>
</tr>`;
}

function health(row: CredentialView): string {
  if (!row.health) return '<span class="muted">not checked</span>';
  const [verdict, codes] = row.health.split(':');
  const findings = (codes ?? '').split(',').filter(Boolean).map((code) => `<li>${esc(code)}</li>`).join('');
  return `<span class="health ${esc(verdict)}">${esc(verdict)}</span>${findings ? `<ul>${findings}</ul>` : ''}`;
}

function lastRotation(last: LastRotation | null): string {
  if (!last) return '<span class="muted">never rotated by this service</span>';
  const outcome = last.outcome ?? last.runtimeStatus.toLowerCase();
  const error = last.error ? `<div class="error">${esc(last.error.code)}: ${esc(last.error.message)}</div>` : '';
  return `<span class="outcome ${esc(outcome)}">${esc(outcome)}</span>${last.reason ? ` (${esc(last.reason)})` : ''}<div class="sub">${esc(when(last.updatedAt))}${last.rotationId ? ` · ${esc(last.rotationId.slice(0, 8))}` : ''}</div>${error}`;
}

function stages(last: LastRotation | null): string {
  if (!last || last.stages.length === 0) return '<span class="muted">none</span>';
  const items = last.stages.map((s) => `<li class="${esc(s.outcome)}"><span class="name">${esc(s.stage)}</span> <span class="result">${esc(s.outcome)}</span> ${duration(s.durationMs)}${s.attempts && s.attempts > 1 ? ` · ${s.attempts} attempts` : ''}${s.detail ? ` · ${esc(s.detail)}` : ''}</li>`);
  return `<ol class="timeline">${items.join('')}</ol>`;
}

function targets(last: LastRotation | null): string {
  if (!last || last.targets.length === 0) return '<span class="muted">none</span>';
  const items = last.targets.map((t) => `<li class="${esc(t.outcome)}">${esc(t.kind)} ${esc(t.target)}: <span class="result">${esc(t.outcome)}</span>${t.errorCode ? ` (${esc(t.errorCode)})` : ''}</li>`);
  return `<ul>${items.join('')}</ul>`;
}

function events(last: LastRotation | null): string {
  if (!last || last.events.length === 0) return '<span class="muted">none</span>';
  const items = last.events.slice(-5).map((e) => `<li>${esc(e.step)} <span class="sub">${esc(when(e.at))}${e.published ? '' : ' · not published'}</span></li>`);
  return `<ol>${items.join('')}</ol>`;
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function day(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 10);
}

function days(ms: number): string {
  return `${Math.max(0, Math.floor(ms / DAY_MS))} d`;
}

function relative(ms: number): string {
  const d = Math.round(ms / DAY_MS);
  if (d === 0) return ms >= 0 ? 'today' : 'earlier today';
  return d > 0 ? `in ${d} d` : `${-d} d ago`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, sans-serif; color: #1a1a1a; background: #ffffff; margin: 0 1.5rem 2rem; }
h1 { font-size: 1.4rem; margin: 1rem 0 0.25rem; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: #4a4a4a; padding: 0.5rem 0; }
th, td { border-bottom: 1px solid #c7c7c7; padding: 0.5rem; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; position: sticky; top: 0; }
tbody th, .date { white-space: nowrap; }
td:nth-child(8) { min-width: 16rem; }
td:nth-child(9) { min-width: 14rem; }
tr.attention { background: #fff4f4; }
tr.attention th { border-left: 6px solid #b00020; }
tr[data-attention="degraded"] { background: #fff8e1; }
tr[data-attention="degraded"] th { border-left-color: #8a5a00; }
tr[data-attention="drifted"] th { border-left-color: #6a1b9a; }
.sub, .muted { color: #4a4a4a; font-size: 0.9em; }
.badge { display: inline-block; padding: 0.1rem 0.5rem; border-radius: 0.25rem; font-weight: 700; color: #ffffff; }
.badge.ok { background: #1b5e20; }
.badge.failed { background: #b00020; }
.badge.degraded { background: #8a5a00; }
.badge.drifted { background: #6a1b9a; }
.badge.expired { background: #a33a00; }
.badge.running { background: #0d47a1; }
.outcome, .health.drifted { font-weight: 700; }
.health.drifted { color: #6a1b9a; }
.outcome.failed, li.failed .result, .error { color: #b00020; }
.outcome.degraded { color: #8a5a00; }
.outcome.succeeded, li.succeeded .result { color: #1b5e20; }
ol, ul { margin: 0; padding-left: 1.1rem; }
.timeline .name { font-weight: 600; }
`;
