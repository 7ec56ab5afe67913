import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * The Function App package as azd builds it for `host: function` (Azure/azure-dev,
 * cli/azd/pkg/project/project_utils.go, createDeployableZip, and rzip.CreateFromDirectory):
 * walk the service folder; leave out `.azure` folders, the ignore file itself and
 * `local.settings.json`; leave out what `.funcignore` matches with gitignore rules (an
 * excluded folder is not entered); deflate every remaining file into a zip.
 */
export function azdFunctionPackage(root: string): string[] {
  const ignore = existsSync(join(root, '.funcignore')) ? gitignore(readFileSync(join(root, '.funcignore'), 'utf8')) : undefined;
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const isDir = lstatSync(path).isDirectory();
      const rel = relative(root, path).split(sep).join('/');
      if (name === '.azure' && isDir) continue;
      if ((name === '.funcignore' || name === 'local.settings.json') && !isDir) continue;
      // Without an ignore file azd leaves out node_modules itself for JavaScript and TypeScript.
      if (ignore ? ignore(rel, isDir) : name === 'node_modules' && isDir) continue;
      if (isDir) walk(path);
      else files.push(rel);
    }
  };
  walk(root);
  return files;
}

/**
 * azd's check for TypeScript function apps with `remoteBuild: true` (service_target_functionapp.go,
 * resolveFunctionAppRemoteBuild): the ignore file must exclude the folder `node_modules`.
 */
export function funcignoreExcludesNodeModules(root: string): boolean {
  return gitignore(readFileSync(join(root, '.funcignore'), 'utf8'))('node_modules', true);
}

/**
 * The gitignore rules azd applies through go-gitignore: the last matching pattern decides;
 * `!` re-includes; a trailing `/` matches folders only; a pattern with a `/` elsewhere is
 * anchored at the root, one without matches a name at any depth; `*` and `?` stop at `/`,
 * `**` crosses it. Character classes are not used here and are refused rather than guessed.
 */
export function gitignore(text: string): (path: string, isDir: boolean) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.replace(/^\uFEFF/, '').trimEnd())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      if (/[[\]\\]/.test(line)) throw new Error(`.funcignore pattern ${line} uses syntax this check does not model`);
      const negate = line.startsWith('!');
      let pattern = negate ? line.slice(1) : line;
      const dirOnly = pattern.endsWith('/');
      if (dirOnly) pattern = pattern.slice(0, -1);
      const anchored = pattern.includes('/');
      if (pattern.startsWith('/')) pattern = pattern.slice(1);
      const body = pattern
        .split('**')
        .map((part) => part.replace(/[.+^${}()|]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
        .join('.*');
      return { negate, dirOnly, regex: new RegExp(anchored ? `^${body}$` : `(^|/)${body}$`) };
    });
  return (path, isDir) => {
    let ignored = false;
    for (const rule of rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.regex.test(path)) ignored = !rule.negate;
    }
    return ignored;
  };
}

/** A zip of `files` (relative to `root`), deflated, as rzip writes them. */
export function writeZip(root: string, files: string[], zipPath: string): void {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const data = readFileSync(join(root, file));
    const packed = deflateRawSync(data);
    const name = Buffer.from(file, 'utf8');
    const fields = { crc: crc32(data), packed: packed.length, size: data.length };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeEntryFields(local, 4, fields, name.length);
    locals.push(local, name, packed);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    writeEntryFields(central, 6, fields, name.length);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  writeFileSync(zipPath, Buffer.concat([...locals, directory, end]));
}

/** version needed, flags (UTF-8 names), method (deflate), time, date, crc, sizes, name length. */
function writeEntryFields(buffer: Buffer, at: number, fields: { crc: number; packed: number; size: number }, nameLength: number): void {
  buffer.writeUInt16LE(20, at);
  buffer.writeUInt16LE(0x0800, at + 2);
  buffer.writeUInt16LE(8, at + 4);
  buffer.writeUInt16LE(0, at + 6);
  buffer.writeUInt16LE(0x21, at + 8);
  buffer.writeUInt32LE(fields.crc, at + 10);
  buffer.writeUInt32LE(fields.packed, at + 14);
  buffer.writeUInt32LE(fields.size, at + 18);
  buffer.writeUInt16LE(nameLength, at + 22);
}

/** Reads the zip back through its central directory, checking each entry's CRC, and writes it under `dest`. */
export function extractZip(zipPath: string, dest: string): string[] {
  const zip = readFileSync(zipPath);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const crc = zip.readUInt32LE(at + 16);
    const packed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = inflateRawSync(zip.subarray(start, start + packed));
    if (crc32(data) !== crc) throw new Error(`zip entry ${name}: CRC mismatch`);
    mkdirSync(dirname(join(dest, name)), { recursive: true });
    writeFileSync(join(dest, name), data);
    names.push(name);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}
