import { describe, expect, it } from 'vitest';
import type { CredentialView } from '../src/functions/dashboard-data';
import { renderDashboard } from '../src/functions/dashboard-page';

const NOW = new Date('2026-12-01T12:00:00Z');

function view(id: string, overrides: Partial<CredentialView>): CredentialView {
  return { id, strategy: 'single-user', role: `${id.replace('-db', '')}_app`, rotatedAt: '2026-11-01T12:00:00Z', expiresOn: '2027-03-01T12:00:00Z', nextDue: '2027-01-30T12:00:00Z', health: null, last: null, attention: null, ...overrides };
}

describe('the dashboard page (rendering)', () => {
  it('when the drift check says a credential drifted, then its row is marked drifted and lists the finding codes', () => {
    const html = renderDashboard([view('drifted-db', { health: 'drifted:derived-stale,role-nologin', attention: 'drifted' }), view('fine-db', { health: 'healthy' })], NOW);
    const drifted = html.slice(html.indexOf('data-credential="drifted-db"'), html.indexOf('data-credential="fine-db"'));
    expect(drifted).toContain('data-attention="drifted" class="attention"');
    expect(drifted).toContain('<span class="badge drifted">Drifted</span>');
    expect(drifted).toContain('<span class="health drifted">drifted</span><ul><li>derived-stale</li><li>role-nologin</li></ul>');
    expect(html.slice(html.indexOf('data-credential="fine-db"'))).toContain('<span class="health healthy">healthy</span>');
  });

  it('when the age, expiry and next due are dated, then the page shows days since and until them', () => {
    const row = renderDashboard([view('dated-db', {})], NOW);
    expect(row).toContain('30 d<div class="sub">since 2026-11-01</div>');
    expect(row).toContain('2027-03-01<div class="sub">in 90 d</div>');
    expect(row).toContain('2027-01-30<div class="sub">in 60 d</div>');
  });

  it('when a message carries markup, then it is shown as text, never as HTML', () => {
    const html = renderDashboard(
      [view('odd-db', { attention: 'failed', last: { rotationId: 'r', runtimeStatus: 'Completed', outcome: 'failed', stage: 'apply', reason: 'manual', error: { code: 'x', stage: 'apply', message: '<img src=x onerror=alert(1)> & "quoted"' }, stages: [], targets: [], events: [], updatedAt: NOW.toISOString() } })],
      NOW,
    );
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62; &#38; &#34;quoted&#34;');
  });
});
