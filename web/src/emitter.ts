/** A small typed event emitter. */
export type Listener<T> = (value: T) => void;

export class Emitter<E extends { [K in keyof E]: unknown }> {
  private listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Calls `fn` for every `type` event; returns a function that stops it. */
  on<K extends keyof E>(type: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn as Listener<never>);
    return () => this.off(type, fn);
  }

  /** Calls `fn` for the next `type` event only. */
  once<K extends keyof E>(type: K, fn: Listener<E[K]>): () => void {
    const off = this.on(type, (v) => {
      off();
      fn(v);
    });
    return off;
  }

  off<K extends keyof E>(type: K, fn: Listener<E[K]>): void {
    this.listeners.get(type)?.delete(fn as Listener<never>);
  }

  /** Whether anyone listens for `type`. */
  listens<K extends keyof E>(type: K): boolean {
    return (this.listeners.get(type)?.size ?? 0) > 0;
  }

  protected emit<K extends keyof E>(type: K, value: E[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<E[K]>)(value);
      } catch (e) {
        console.error(`livestage: a '${String(type)}' listener threw`, e);
      }
    }
  }
}
