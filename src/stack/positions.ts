import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';
import type { Anchor, FieldPath, Locate, Position } from './problems.ts';

const START: Position = { line: 1, column: 1 };

/**
 * Maps a field path back to its line and column in the YAML source. When the path does not exist
 * (a missing required key), it points at the deepest key that does, which is where the user must add it.
 */
export function yamlLocator(doc: Document, lineCounter: LineCounter): Locate {
  const at = (node: unknown): Position | undefined => {
    const range = (node as Node | null | undefined)?.range;
    if (!range) return undefined;
    const { line, col } = lineCounter.linePos(range[0]);
    return { line, column: col };
  };

  return (path: FieldPath, anchor: Anchor): Position => {
    let node: unknown = doc.contents;
    let lastKey: unknown;
    let lastFound: unknown = node;
    let complete = true;
    for (const segment of path) {
      // `<<: *defaults` and `*ref` values: follow the alias to the node that holds the keys.
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) {
          complete = false;
          break;
        }
        lastKey = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        lastKey = undefined;
        node = node.items[segment];
      } else {
        complete = false;
        break;
      }
      lastFound = node ?? lastKey;
    }
    if (!complete) return at(lastKey) ?? at(lastFound) ?? START;
    const emptyValue = node === null || node === undefined || (isScalar(node) && node.value === null);
    if (anchor === 'key' || emptyValue) return at(lastKey) ?? at(node) ?? START;
    return at(node) ?? at(lastKey) ?? START;
  };
}
