/**
 * URL prefix trie over whole path segments (CHP lib/trie.js semantics, PROTOCOL.md A3).
 *
 * - keys are normalised by trimPrefix: leading '/', no trailing '/' (except the root)
 * - a path is split on '/' after stripping leading/trailing slash runs ('//a//b' → ['a', '', 'b'])
 * - get() returns the node with data whose prefix is the longest run of whole segments
 *   ('/user/alice' matches '/user/alice/x' but not '/user/alicex')
 *
 * get() walks the string by index instead of building a segment array: it is on the hot path.
 */

export function trimPrefix(prefix: string): string {
  if (prefix.length === 0 || prefix[0] !== '/') prefix = '/' + prefix;
  if (prefix.length > 1 && prefix[prefix.length - 1] === '/') prefix = prefix.slice(0, -1);
  return prefix;
}

/** '/prefix/string/' → ['prefix', 'string'] (CHP stringToPath). */
export function stringToPath(s: string): string[] {
  const [start, end] = bounds(s);
  return start >= end ? [] : s.slice(start, end).split('/');
}

/** Index range of s without leading and trailing '/' runs. */
function bounds(s: string): [number, number] {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === 47) start++;
  while (end > start && s.charCodeAt(end - 1) === 47) end--;
  return [start, end];
}

export interface TrieMatch<T> {
  readonly prefix: string;
  readonly data: T;
}

export class URLTrie<T> {
  readonly prefix: string;
  readonly branches = new Map<string, URLTrie<T>>();
  data: T | undefined = undefined;

  constructor(prefix = '/') {
    this.prefix = trimPrefix(prefix);
  }

  get size(): number {
    return this.branches.size;
  }

  add(path: string, data: T): void {
    let node: URLTrie<T> = this;
    for (const part of stringToPath(path)) {
      let child = node.branches.get(part);
      if (!child) {
        child = new URLTrie<T>(node.prefix.length === 1 ? `/${part}` : `${node.prefix}/${part}`);
        node.branches.set(part, child);
      }
      node = child;
    }
    node.data = data;
  }

  remove(path: string): void {
    const parts = stringToPath(path);
    const trail: URLTrie<T>[] = [this];
    let node: URLTrie<T> = this;
    for (const part of parts) {
      const child = node.branches.get(part);
      if (!child) return; // already gone
      trail.push(child);
      node = child;
    }
    node.data = undefined;
    // prune empty leaves bottom-up; the root always stays
    for (let i = parts.length; i > 0; i--) {
      const n = trail[i];
      if (n.branches.size > 0 || n.data !== undefined) break;
      trail[i - 1].branches.delete(parts[i - 1]);
    }
  }

  /** Longest matching prefix that holds data, or undefined. */
  get(path: string): (TrieMatch<T> & URLTrie<T>) | undefined {
    let best: URLTrie<T> | undefined = this.data === undefined ? undefined : this;
    let node: URLTrie<T> = this;
    const [start, end] = bounds(path);
    let i = start;
    while (i < end) {
      let j = path.indexOf('/', i);
      if (j === -1 || j > end) j = end;
      const child = node.branches.get(path.slice(i, j));
      if (!child) break;
      node = child;
      if (node.data !== undefined) best = node;
      i = j + 1;
    }
    return best as (TrieMatch<T> & URLTrie<T>) | undefined;
  }
}
