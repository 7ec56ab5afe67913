/**
 * What psql does to a script given `-v name=value`: `:'name'` becomes a quoted literal and
 * `:"name"` a quoted identifier, except inside quotes, dollar quotes and comments. Anything
 * the bootstrap must not depend on (meta-commands, unknown variables) fails loudly.
 */
export function psql(sql: string, variables: Record<string, string>): string {
  let out = '';
  let i = 0;
  const value = (name: string) => {
    const v = variables[name];
    if (v === undefined) throw new Error(`the script uses the psql variable ${name}, which the test does not set`);
    return v;
  };
  while (i < sql.length) {
    const rest = sql.slice(i);
    const skip =
      /^--[^\n]*/.exec(rest) ??
      /^\/\*[\s\S]*?\*\//.exec(rest) ??
      /^'(?:[^']|'')*'/.exec(rest) ??
      /^"(?:[^"]|"")*"/.exec(rest) ??
      /^(\$[A-Za-z_]*\$)[\s\S]*?\1/.exec(rest) ??
      /^::/.exec(rest);
    if (skip) {
      out += skip[0];
      i += skip[0].length;
      continue;
    }
    const variable = /^:(['"])([A-Za-z_][A-Za-z0-9_]*)\1/.exec(rest);
    if (variable) {
      const v = value(variable[2]);
      out += variable[1] === "'" ? `'${v.replace(/'/g, "''")}'` : `"${v.replace(/"/g, '""')}"`;
      i += variable[0].length;
      continue;
    }
    if (rest.startsWith('\\') && (i === 0 || sql[i - 1] === '\n')) throw new Error(`psql meta-command in a bootstrap script: ${rest.split('\n')[0]}`);
    out += sql[i];
    i += 1;
  }
  return out;
}
