import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepFiles, INFRA, matchingBrace } from './support/bicep';
import { APP_SETTINGS } from '../src/config/app-settings';

const API_BICEP = join(INFRA, 'app', 'api.bicep');

/**
 * Settings the Bicep may set although the code never reads them: the Functions host and its
 * extensions read these. Anything else the Bicep sets must be in src/config/app-settings.ts.
 */
const HOST_SETTINGS: { pattern: RegExp; why: string }[] = [
  // Host storage through a managed identity: triggers, Flex deployment, the Durable Functions task hub.
  { pattern: /^AzureWebJobsStorage__(credential|clientId|blobServiceUri|queueServiceUri|tableServiceUri)$/, why: 'identity-based host storage' },
  // Telemetry: connection string, plus Entra authentication when local auth is off.
  { pattern: /^APPLICATIONINSIGHTS_(CONNECTION_STRING|AUTHENTICATION_STRING)$/, why: 'Application Insights' },
  // Host runtime switches (Flex Consumption sets the runtime in functionAppConfig instead, so none is expected today).
  { pattern: /^FUNCTIONS_[A-Z_]+$/, why: 'Functions host runtime' },
  { pattern: /^WEBSITE_[A-Z_]+$/, why: 'App Service platform' },
];

// App Service itself sets these; the Bicep must not.
const platformSettings = Object.entries(APP_SETTINGS).filter(([, s]) => 'setByPlatform' in s).map(([name]) => name);
const codeSettings = Object.keys(APP_SETTINGS).filter((name) => !platformSettings.includes(name)).sort();

describe('infrastructure app settings match what the code reads', () => {
  it('when the Bicep is read, then the app settings are one delimited object in api.bicep that the site receives whole', () => {
    const text = readFileSync(API_BICEP, 'utf8');
    expect(text.split('// <app-settings>').length - 1).toBe(1);
    expect(text.split('// </app-settings>').length - 1).toBe(1);
    expect(text).toMatch(/appSettingsKeyValuePairs:\s*appSettings\s*\n/);
    const elsewhere = bicepFiles()
      .filter((file) => file !== API_BICEP)
      .filter((file) => /appSettings|siteConfig|Microsoft\.Web\/sites\/config/.test(readFileSync(file, 'utf8')));
    expect(elsewhere.map((file) => relative(INFRA, file))).toEqual([]);
  });

  it('when the code reads a setting, then the Bicep sets it', () => {
    const set = bicepAppSettings();
    expect(codeSettings.filter((name) => !set.has(name))).toEqual([]);
  });

  it('when the Bicep sets a setting, then the code reads it or it belongs to the host', () => {
    const unexplained = [...bicepAppSettings().keys()].filter(
      (name) => !codeSettings.includes(name) && !HOST_SETTINGS.some(({ pattern }) => pattern.test(name)),
    );
    expect(unexplained).toEqual([]);
  });

  it('when the host reaches its storage, then it signs in as the managed identity to blobs, queues and tables, with no connection string', () => {
    const set = bicepAppSettings();
    expect(set.get('AzureWebJobsStorage__credential')).toBe(`'managedidentity'`);
    expect(set.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    for (const service of ['blob', 'queue', 'table']) {
      expect(set.get(`AzureWebJobsStorage__${service}ServiceUri`)).toBe(`storage.properties.primaryEndpoints.${service}`);
    }
    expect(set.has('AzureWebJobsStorage')).toBe(false);
    expect(set.get('AZURE_CLIENT_ID')).toBe('identityClientId');
  });

  it('when the events topic is published to, then the identity signs in: the Bicep stores no topic key', () => {
    expect(bicepAppSettings().get('ROTATOR_EVENTS_KEY')).toBe(`''`);
    expect(readFileSync(join(INFRA, 'app', 'events.bicep'), 'utf8')).toMatch(/disableLocalAuth:\s*true/);
  });

  it('when azd provisions, then every parameter of main.bicep is mapped in main.parameters.json and nothing else is', () => {
    const params = [...readFileSync(join(INFRA, 'main.bicep'), 'utf8').matchAll(/^param (\w+) /gm)].map((m) => m[1]).sort();
    const mapped = Object.keys(JSON.parse(readFileSync(join(INFRA, 'main.parameters.json'), 'utf8')).parameters as object).sort();
    expect(mapped).toEqual(params);
  });
});

/** The top-level keys of `var appSettings = { ... }` between the markers, with their value expressions. */
function bicepAppSettings(): Map<string, string> {
  const text = readFileSync(API_BICEP, 'utf8');
  const section = text.slice(text.indexOf('// <app-settings>'), text.indexOf('// </app-settings>'));
  const open = section.indexOf('{', section.indexOf('var appSettings'));
  expect(open).toBeGreaterThan(0);
  const body = section.slice(open + 1, matchingBrace(section, open));
  const settings = new Map<string, string>();
  let depth = 0;
  for (const rawLine of body.split('\n')) {
    const line = stripComment(rawLine).trim();
    if (depth === 0 && line) {
      const entry = /^'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:\s*(.+)$/.exec(line);
      if (!entry) throw new Error(`cannot read the app setting line: ${rawLine.trim()}`);
      expect(settings.has(entry[1]), `${entry[1]} is set twice`).toBe(false);
      settings.set(entry[1], entry[2].trim());
    }
    depth += count(line, /[{[(]/g) - count(line, /[}\])]/g);
  }
  return settings;
}



function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i += 1) {
    if (line[i] === "'" && line[i - 1] !== '\\') inString = !inString;
    else if (!inString && line.startsWith('//', i)) return line.slice(0, i);
  }
  return line;
}

function count(text: string, pattern: RegExp): number {
  return (text.replace(/'(?:[^'\\]|\\.)*'/g, "''").match(pattern) ?? []).length;
}

