// Undo/redo over snapshots of a tool's state (deep copies made by the tool's own clone function).
export class History {
  constructor(clone, limit = 100) {
    this.clone = clone;
    this.limit = limit;
    this.past = [];
    this.future = [];
  }
  // Call with the state *before* a change that is now done.
  push(before) {
    this.past.push(before);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
  }
  undo(current) {
    if (!this.past.length) return null;
    this.future.push(this.clone(current));
    return this.past.pop();
  }
  redo(current) {
    if (!this.future.length) return null;
    this.past.push(this.clone(current));
    return this.future.pop();
  }
}

export function isUndo(e) { return (e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z"; }
export function isRedo(e) {
  return (e.ctrlKey || e.metaKey) && ((e.shiftKey && e.key.toLowerCase() === "z") || e.key.toLowerCase() === "y");
}
