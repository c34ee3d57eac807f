/** A Map that counts its changes, so caches derived from it know when to rebuild. */
export class VersionedMap<K, V> extends Map<K, V> {
  constructor(private readonly onChange: () => void) {
    super();
  }

  override set(key: K, value: V): this {
    super.set(key, value);
    // Map's constructor calls set() before onChange is assigned
    this.onChange?.();
    return this;
  }

  override delete(key: K): boolean {
    const had = super.delete(key);
    if (had) this.onChange();
    return had;
  }

  override clear(): void {
    super.clear();
    this.onChange();
  }
}
