/** URLTrie unit tests (the cases of CHP's trie_spec.js, plus edge cases of the index-walking get()). */
import { describe, expect, it } from 'vitest';
import { stringToPath, trimPrefix, URLTrie } from '../../proxy/trie.js';

describe('trimPrefix / stringToPath', () => {
  it('normalises keys like CHP', () => {
    expect(trimPrefix('')).toBe('/');
    expect(trimPrefix('/')).toBe('/');
    expect(trimPrefix('user/alice')).toBe('/user/alice');
    expect(trimPrefix('/user/alice/')).toBe('/user/alice');
    expect(trimPrefix('/user/alice//')).toBe('/user/alice/'); // only one slash is stripped
  });
  it('splits on / after stripping slash runs at both ends', () => {
    expect(stringToPath('/')).toEqual([]);
    expect(stringToPath('///a/b//')).toEqual(['a', 'b']);
    expect(stringToPath('/a//b')).toEqual(['a', '', 'b']);
  });
});

describe('URLTrie', () => {
  const full = () => {
    const t = new URLTrie<string>();
    t.add('/1', '1');
    t.add('/2', '2');
    t.add('/1/a', '1a');
    t.add('/1/a/b', '1ab');
    t.add('/x/y/z', 'xyz');
    return t;
  };

  it('starts empty at the root', () => {
    const t = new URLTrie<string>();
    expect(t.prefix).toBe('/');
    expect(t.size).toBe(0);
    expect(t.get('/anything')).toBeUndefined();
  });

  it('returns the longest whole-segment prefix with data', () => {
    const t = full();
    expect(t.get('/1')?.data).toBe('1');
    expect(t.get('/1/')?.data).toBe('1');
    expect(t.get('/1/a/b/c/d')).toMatchObject({ prefix: '/1/a/b', data: '1ab' });
    expect(t.get('/1/ab')).toMatchObject({ prefix: '/1', data: '1' });
    expect(t.get('/1x')).toBeUndefined();
    expect(t.get('/x/y')).toBeUndefined(); // intermediate node without data
    expect(t.get('/x/y/z/w')?.prefix).toBe('/x/y/z');
    expect(t.get('/3')).toBeUndefined();
  });

  it('the root route catches everything else', () => {
    const t = full();
    t.add('/', 'root');
    expect(t.get('/3/4')).toMatchObject({ prefix: '/', data: 'root' });
    expect(t.get('/')).toMatchObject({ prefix: '/', data: 'root' });
    expect(t.get('')).toMatchObject({ prefix: '/', data: 'root' });
  });

  it('is case-sensitive and treats empty segments as segments', () => {
    const t = new URLTrie<string>();
    t.add('/a//b', 'ab');
    t.add('/User', 'U');
    expect(t.get('/a//b/c')?.data).toBe('ab');
    expect(t.get('/a/b')).toBeUndefined();
    expect(t.get('/user')).toBeUndefined();
  });

  it('overwrites data on re-add', () => {
    const t = full();
    t.add('/1/a', 'again');
    expect(t.get('/1/a/q')?.data).toBe('again');
  });

  it('remove prunes empty branches but keeps the root and ancestors with data', () => {
    const t = full();
    t.remove('/1/a/b');
    expect(t.get('/1/a/b')?.prefix).toBe('/1/a');
    t.remove('/1/a');
    expect(t.get('/1/a/b')?.prefix).toBe('/1');
    expect(t.branches.get('1')?.size).toBe(0);
    t.remove('/x/y/z');
    expect(t.branches.has('x')).toBe(false);
    t.remove('/not/there'); // no error
    t.add('/', 'root');
    t.remove('/');
    expect(t.get('/')).toBeUndefined();
    expect(t.prefix).toBe('/');
    expect(t.get('/2')?.data).toBe('2');
  });

  it('a lookup costs the same with 10,000 routes as with 1', () => {
    const one = new URLTrie<number>();
    one.add('/user/u5000', 1);
    const many = new URLTrie<number>();
    for (let i = 0; i < 10_000; i++) many.add(`/user/u${i}`, i);
    const time = (t: URLTrie<number>) => {
      const t0 = performance.now();
      let hits = 0;
      for (let i = 0; i < 200_000; i++) if (t.get('/user/u5000/api/contents/x') !== undefined) hits++;
      expect(hits).toBe(200_000);
      return performance.now() - t0;
    };
    // interleaved, best of 5: the machine is shared
    let a = Infinity;
    let b = Infinity;
    for (let r = 0; r < 5; r++) {
      a = Math.min(a, time(one));
      b = Math.min(b, time(many));
    }
    expect(b / a).toBeLessThan(1.5);
  });

  it('lookups stay fast with 10,000 routes', () => {
    const t = new URLTrie<number>();
    for (let i = 0; i < 10_000; i++) t.add(`/user/u${i}`, i);
    const t0 = performance.now();
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (t.get(`/user/u${i % 10_000}/lab/tree`)?.data === i % 10_000) hits++;
    expect(hits).toBe(100_000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
