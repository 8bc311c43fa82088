/**
 * The two YAML shapes beanstalkd emits, and nothing more (no dependency, no type guessing), read
 * two ways: strictly (the client: anything else is a bad reply, YamlFormatError) and leniently
 * (the proxy reading its nodes: lines of another shape are skipped, so a node that adds a key or
 * a line does not take a merged `stats` down).
 *
 *   ---\n key: value\n …      (stats, stats-tube, stats-job)
 *   ---\n - item\n …          (list-tubes, list-tubes-watched)
 *
 * Values stay strings. A map value wrapped in double quotes (beanstalkd 1.13 quotes `version`,
 * `name`, `tube`, `hostname`, `os`) is unwrapped; beanstalkd writes no escapes inside, so none
 * are interpreted. List items are kept exactly as sent: a tube named `123`, `true` or `0x1F`
 * stays that string (general YAML loaders turn those into numbers/booleans).
 */

export class YamlFormatError extends Error {
  override readonly name = 'YamlFormatError';
}

/** Splits a body into its lines after the `---` document marker; a final "\n" ends the last line. */
function bodyLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== '---') throw new YamlFormatError('YAML body does not start with "---"');
  lines.shift();
  return lines;
}

/** `key: value` lines → a null-prototype record of strings (quotes stripped, see above). */
export function parseYamlMap(text: string): Record<string, string> {
  const map: Record<string, string> = Object.create(null);
  for (const line of bodyLines(text)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new YamlFormatError(`not a "key: value" line: ${JSON.stringify(line)}`);
    const key = line.slice(0, colon);
    let value: string;
    if (colon === line.length - 1) value = '';
    else if (line.charCodeAt(colon + 1) === 32) value = line.slice(colon + 2);
    else throw new YamlFormatError(`not a "key: value" line: ${JSON.stringify(line)}`);
    map[key] = unquote(value);
  }
  return map;
}

/** `- item` lines → the items, byte-exact. */
export function parseYamlList(text: string): string[] {
  const items: string[] = [];
  for (const line of bodyLines(text)) {
    if (!line.startsWith('- ')) throw new YamlFormatError(`not a "- item" line: ${JSON.stringify(line)}`);
    items.push(line.slice(2));
  }
  return items;
}

/** Unwraps a double-quoted value (beanstalkd writes no escapes inside). */
export function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** Lenient `key: value` reader: lines of another shape are skipped; quotes are stripped. */
export function readYamlMap(data: Buffer): Record<string, string> {
  const map: Record<string, string> = Object.create(null);
  for (const line of data.toString('latin1').split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) map[line.slice(0, colon)] = unquote(line.slice(colon + 2));
  }
  return map;
}

/** Lenient `- item` reader: other lines are skipped; items are kept byte-exact. */
export function readYamlList(data: Buffer): string[] {
  const items: string[] = [];
  for (const line of data.toString('latin1').split('\n'))
    if (line.startsWith('- ')) items.push(line.slice(2));
  return items;
}
