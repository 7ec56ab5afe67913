import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ATTR, METRIC, SPAN } from '../src/telemetry/rotation-telemetry';
import { closingQuote, INFRA, matchingBrace } from './support/bicep';

const MONITORING = readFileSync(join(INFRA, 'app', 'monitoring.bicep'), 'utf8');
const MAIN = readFileSync(join(INFRA, 'main.bicep'), 'utf8');

/** The text of the first `{ ... }` after `marker`. */
function block(text: string, marker: string): string {
  const at = text.indexOf(marker);
  expect(at, `${marker} is missing`).toBeGreaterThanOrEqual(0);
  const open = text.indexOf('{', at);
  return text.slice(open, matchingBrace(text, open) + 1);
}

/** Every `name: 'value'` string property in `text`, with Bicep's escapes undone. */
function stringProps(text: string, name: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(new RegExp(`\\b${name}: '`, 'g'))) {
    const open = m.index! + m[0].length - 1;
    out.push(text.slice(open + 1, closingQuote(text, open)).replace(/\\'/g, "'"));
  }
  return out;
}

/** The alert definitions: each object of `var alerts = [ ... ]`, by key. */
function alertDefinitions(): Map<string, string> {
  const start = MONITORING.indexOf('var alerts = [');
  const end = MONITORING.indexOf('\n]\n', start);
  const list = MONITORING.slice(start, end);
  const alerts = new Map<string, string>();
  for (let open = list.indexOf('{'); open >= 0; open = list.indexOf('{', matchingBrace(list, open) + 1)) {
    const body = list.slice(open, matchingBrace(list, open) + 1);
    alerts.set(stringProps(body, 'key')[0], body);
  }
  return alerts;
}

/** What the KQL of the Bicep reads: metric names, span names, and attribute keys. */
function kqlReferences(text: string) {
  return {
    metrics: [...text.matchAll(/name == "([^"]+)"/g)].map((m) => m[1]).filter((n) => n.startsWith('rotator.')),
    spans: [...text.matchAll(/dependencies \| where name (?:==|startswith) "([^"]+)"/g)].map((m) => m[1]),
    attributes: [...text.matchAll(/customDimensions\["([^"]+)"\]/g)].map((m) => m[1]),
  };
}

describe('infrastructure: rotation alerts, an action group and a workbook', () => {
  it('when azd provisions main.bicep, then monitoring.bicep is deployed on the Application Insights component with the alert parameters passed through', () => {
    const module = block(MAIN, "module alerts 'app/monitoring.bicep'");
    expect(module).toMatch(/applicationInsightsName: monitoring\.outputs\.name/);
    for (const param of ['alertEmails', 'alertWebhookUrl', 'expiryAlertDays']) {
      expect(module).toMatch(new RegExp(`${param}: ${param}\\n`));
      expect(MAIN).toMatch(new RegExp(`^param ${param} `, 'm'));
    }
    expect(MAIN).toMatch(/@secure\(\)\n@description\([^\n]*\)\nparam alertWebhookUrl string/);
    expect(MONITORING).toMatch(/@secure\(\)\n@description\([^\n]*\)\nparam alertWebhookUrl string/);
  });

  it('when an alert fires, then the action group emails every address given and calls the webhook when one is given, in the common alert schema', () => {
    const group = block(MONITORING, "resource actionGroup 'Microsoft.Insights/actionGroups@");
    expect(group).toMatch(/for \(address, i\) in alertEmails: \{\s*name: 'email-\$\{i\}'\s*emailAddress: address\s*useCommonAlertSchema: true/);
    expect(group).toMatch(/webhookReceivers: empty\(alertWebhookUrl\)\s*\?\s*\[\]\s*:\s*\[\s*\{\s*name: 'webhook'\s*serviceUri: alertWebhookUrl\s*useCommonAlertSchema: true/);
    expect(group).toMatch(/location: 'global'/);
    expect(stringProps(group, 'groupShortName')[0].length).toBeLessThanOrEqual(12);
  });

  it('when a rotation fails, degrades or drifts, or a credential expires within N days with no rotation scheduled, then a log alert on Application Insights pages the action group, per credential', () => {
    const alerts = alertDefinitions();
    expect([...alerts.keys()]).toEqual(['failed', 'degraded', 'drifted', 'expiring']);
    const query = (key: string) => stringProps(alerts.get(key)!, 'query')[0];
    expect(query('failed')).toContain(`name == "${METRIC.rotations}" and tostring(customDimensions["${ATTR.outcome}"]) == "failed"`);
    expect(query('degraded')).toContain(`name == "${METRIC.rotations}" and tostring(customDimensions["${ATTR.outcome}"]) == "degraded"`);
    expect(query('drifted')).toContain(`name == "${METRIC.driftFindings}"`);
    expect(query('expiring')).toContain(`name == "${METRIC.daysUntilExpiry}"`);
    expect(query('expiring')).toContain(`customDimensions["${ATTR.rotationScheduled}"]`);
    expect(query('expiring')).toMatch(/where value < \$\{expiryAlertDays\} and scheduled != "true"/);
    for (const [key, body] of alerts) {
      expect(query(key), key).toContain('${credential}');
      expect(query(key), key).toMatch(/summarize .* by (\$\{credential\}|credential)/);
      expect(body, key).toMatch(/severity: [12]\n/);
    }
    const rules = block(MONITORING, "resource rules 'Microsoft.Insights/scheduledQueryRules@");
    expect(MONITORING.match(/var credential = '([^']+)'/)?.[1]).toBe(`credential = tostring(customDimensions["${ATTR.credentialId}"])`);
    expect(MONITORING).toMatch(/resource rules 'Microsoft\.Insights\/scheduledQueryRules@[\d-]+' = \[\n\s*for alert in alerts: \{/);
    expect(rules).toMatch(/kind: 'LogAlert'/);
    expect(rules).toMatch(/scopes: \[applicationInsights\.id\]/);
    expect(rules).toMatch(/actionGroups: \[actionGroup\.id\]/);
    expect(rules).toMatch(/query: alert\.query/);
    expect(rules).toMatch(/dimensions: \[\s*\{\s*name: 'credential'\s*operator: 'Include'/);
    expect(rules).toMatch(/operator: 'GreaterThan'\s*threshold: 0/);
  });

  it('when the fleet is looked at in the portal, then a shared workbook on the component shows every rotation, outcomes over time, stage durations and consumer failures', () => {
    const workbook = block(MONITORING, "resource workbook 'Microsoft.Insights/workbooks@");
    expect(workbook).toMatch(/kind: 'shared'/);
    expect(workbook).toMatch(/sourceId: applicationInsights\.id/);
    expect(workbook).toMatch(/serializedData: string\(history\)/);
    const history = block(MONITORING, 'var history =');
    expect(stringProps(history, 'title')).toEqual(['Rotations by outcome', 'Every rotation', 'Stage duration (ms) and attempts', 'Consumer failures']);
    const refs = kqlReferences(history);
    expect(refs.spans).toEqual([SPAN.rotation, SPAN.stage('')]);
    expect(refs.metrics).toEqual([METRIC.rotations, METRIC.consumerFailures]);
  });

  it('when the code names its metrics, spans and attributes, then every name the Bicep queries is one the code emits', () => {
    const refs = kqlReferences(MONITORING);
    expect(refs.metrics.length).toBeGreaterThanOrEqual(6);
    expect(refs.metrics.filter((m) => !Object.values(METRIC).includes(m as never))).toEqual([]);
    expect(refs.attributes.length).toBeGreaterThanOrEqual(10);
    expect(refs.attributes.filter((a) => !Object.values(ATTR).includes(a as never))).toEqual([]);
    expect(refs.spans.filter((s) => s !== SPAN.rotation && !s.startsWith(SPAN.stage('')))).toEqual([]);
  });
});
