// The graph IR every pass works on. Nodes and values have numeric ids; the
// graph owns the use-lists, and the only way to change edges is the small
// mutation API below (add, setInput, replaceAllUses, erase), so use-lists
// cannot drift. Passes rewire; cleanup() deletes what became dead.
import type { AttributeProto } from '../onnx/proto.ts';
import type { TensorData } from '../onnx/model.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.ts';

/** A dimension: a size, or a symbolic name not bound yet (`batch_size`). */
export type Dim = number | string;

export interface TensorType {
  /** ONNX TensorProto.DataType code. */
  dtype: number;
  /** Undefined when the rank is unknown. */
  shape?: Dim[];
}

/** Where a node came from: an imported ONNX node, a pass, or the model builder. */
export type Origin =
  { kind: 'onnx'; name: string } | { kind: 'pass'; pass: string; from: number[] } | { kind: 'builder'; module: string };

/** A lazy handle to constant data: nothing is read until a pass asks. */
export interface Weight {
  dtype: number;
  dims: number[];
  data: TensorData;
  /** The imported TensorProto, reused on export while the weight is unchanged. */
  proto?: TensorProto;
}

export interface ModelMeta {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion?: string;
  metadata: { key: string; value: string }[];
  /** The imported ModelProto: fields the IR does not model (functions, docs) come back from it. */
  template?: ModelProto;
}

export interface Use {
  node: Node;
  /** Input slot, or -1 for a capture by one of the node's subgraphs. */
  index: number;
}

export class Value {
  type?: TensorType;
  weight?: Weight;
  /** @internal maintained by Graph */
  _producer?: Node;
  /** @internal maintained by Graph */
  _uses: Use[] = [];
  /** @internal changed only through Graph.rename, which keeps the graph's names unique */
  _name: string;
  constructor(
    readonly id: number,
    name: string,
  ) {
    this._name = name;
  }
  get name(): string {
    return this._name;
  }
  get producer(): Node | undefined {
    return this._producer;
  }
  get uses(): readonly Use[] {
    return this._uses;
  }
}

export class Node {
  /** @internal */ _inputs: (Value | undefined)[] = [];
  /** @internal */ _outputs: (Value | undefined)[] = [];
  /** @internal */ _implicit: Value[] = [];
  /** @internal false once erased; nodes() drops it from the order on the next read */ _alive = true;
  /** The imported NodeProto: fields the IR does not model (doc_string, metadata) come back from it. */
  proto?: NodeProto;
  constructor(
    readonly id: number,
    public op: string,
    public domain: string,
    public name: string,
    public attrs: AttributeProto[],
    /** Dotted diffusers module path (`down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`), '' when unscoped. */
    public scope: string,
    public origin: Origin,
  ) {}
  get inputs(): readonly (Value | undefined)[] {
    return this._inputs;
  }
  get outputs(): readonly (Value | undefined)[] {
    return this._outputs;
  }
  /** Outer values read inside this node's subgraphs (If/Loop/Scan bodies). */
  get implicitInputs(): readonly Value[] {
    return this._implicit;
  }
  get alive(): boolean {
    return this._alive;
  }
  output(i = 0): Value {
    const v = this._outputs[i];
    if (!v) throw new Error(`node ${this.name} has no output ${i}`);
    return v;
  }
  input(i: number): Value | undefined {
    return this._inputs[i];
  }
  attr(name: string): AttributeProto | undefined {
    return this.attrs.find((a) => a.name === name);
  }
}

export interface AddOptions {
  name?: string;
  domain?: string;
  attrs?: AttributeProto[];
  scope?: string;
  origin: Origin;
  /** Output count, or explicit names ('' for an omitted optional output). */
  outputs?: number | string[];
  /** Insert right before this node instead of at the end of the order. */
  before?: Node;
}

export class Graph {
  name = 'main';
  /** Model-level fields (opset imports, IR version, metadata) carried to export. */
  model: ModelMeta = { irVersion: 8, opsets: [{ domain: '', version: 17 }], producerName: 'pocketdiff', metadata: [] };
  // Read-only outside: every change goes through a method, so use-lists and
  // the unique-name set can never drift from what the graph holds.
  private _inputs: Value[] = [];
  private _outputs: Value[] = [];
  private _weights: Value[] = [];
  private order: Node[] = [];
  private nextId = 1;
  private names = new Set<string>();

  get inputs(): readonly Value[] {
    return this._inputs;
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }
  /** Weights (initializers), in import order. */
  get weights(): readonly Value[] {
    return this._weights;
  }

  nodes(): readonly Node[] {
    if (this.order.some((n) => !n._alive)) this.order = this.order.filter((n) => n._alive);
    return this.order;
  }

  /** A value name not used yet in this graph, derived from `base`. */
  uniqueName(base: string): string {
    if (!this.names.has(base)) return base;
    for (let k = 1; ; k++) {
      const n = `${base}_${k}`;
      if (!this.names.has(n)) return n;
    }
  }

  newValue(name: string): Value {
    const v = new Value(this.nextId++, this.uniqueName(name));
    this.names.add(v.name);
    return v;
  }

  addInput(name: string, type?: TensorType): Value {
    const v = this.newValue(name);
    v.type = type;
    this._inputs.push(v);
    return v;
  }

  addWeight(name: string, weight: Weight): Value {
    const v = this.newValue(name);
    v.weight = weight;
    v.type = { dtype: weight.dtype, shape: [...weight.dims] };
    this._weights.push(v);
    return v;
  }

  /** Makes an existing value (a node's output, a weight, an input) the next graph output. */
  addOutput(v: Value): void {
    this._outputs.push(v);
  }

  /** Gives a value a new name; the name must be free in this graph. */
  rename(v: Value, name: string): void {
    if (v.name === name) return;
    if (this.names.has(name)) throw new Error(`cannot rename ${v.name} to ${name}: the name is taken`);
    this.names.delete(v.name);
    v._name = name;
    this.names.add(name);
  }

  /** Two values trade names: a graph output keeps its name when a pass puts another value behind it. */
  swapNames(a: Value, b: Value): void {
    [a._name, b._name] = [b._name, a._name];
  }

  /** Puts the same weights in a new order (an exporter's initializer order). */
  orderWeights(values: Value[]): void {
    if (values.length !== this._weights.length || values.some((v) => !this._weights.includes(v)))
      throw new Error("orderWeights must be given exactly the graph's weights");
    this._weights = [...values];
  }

  add(op: string, inputs: (Value | undefined)[], opts: AddOptions): Node {
    const name = opts.name ?? `${opts.scope ? '/' + opts.scope.replaceAll('.', '/') + '/' : ''}${op}`;
    const node = new Node(this.nextId++, op, opts.domain ?? '', name, opts.attrs ?? [], opts.scope ?? '', opts.origin);
    const outs = opts.outputs ?? 1;
    const outNames = typeof outs === 'number' ? Array.from({ length: outs }, (_, i) => `${name}_output_${i}`) : outs;
    node._outputs = outNames.map((n) => {
      if (n === '') return undefined;
      const v = this.newValue(n);
      v._producer = node;
      return v;
    });
    inputs.forEach((v, i) => {
      node._inputs.push(v);
      v?._uses.push({ node, index: i });
    });
    if (opts.before) {
      const at = this.nodes().indexOf(opts.before);
      this.order.splice(at < 0 ? this.order.length : at, 0, node);
    } else {
      this.order.push(node);
    }
    return node;
  }

  setInput(node: Node, index: number, value: Value | undefined): void {
    const old = node._inputs[index];
    if (old) old._uses = old._uses.filter((u) => !(u.node === node && u.index === index));
    while (node._inputs.length <= index) node._inputs.push(undefined);
    node._inputs[index] = value;
    value?._uses.push({ node, index });
  }

  /** Records that a node's subgraphs read `values` from this graph. */
  setImplicitInputs(node: Node, values: Value[]): void {
    for (const v of node._implicit) v._uses = v._uses.filter((u) => !(u.node === node && u.index === -1));
    node._implicit = [...values];
    for (const v of values) v._uses.push({ node, index: -1 });
  }

  /**
   * Every use of `old` (node inputs and graph outputs) now reads `replacement`;
   * with `keep`, the node uses it accepts stay on `old`.
   */
  replaceAllUses(old: Value, replacement: Value, keep?: (user: Node) => boolean): void {
    if (old === replacement) return;
    for (const u of [...old._uses]) {
      if (keep?.(u.node)) continue;
      if (u.index === -1)
        throw new Error(`value ${old.name} is captured by a subgraph of ${u.node.name}; it cannot be replaced`);
      this.setInput(u.node, u.index, replacement);
    }
    for (let i = 0; i < this._outputs.length; i++) if (this._outputs[i] === old) this._outputs[i] = replacement;
  }

  /**
   * Replaces the graph's input list (reorder, drop or add inputs). A dropped
   * input must be unused: graph inputs are values like any other.
   */
  setInputs(values: Value[]): void {
    for (const v of this.inputs) {
      if (!values.includes(v) && v.uses.length) throw new Error(`input ${v.name} is still used`);
    }
    this._inputs = [...values];
  }

  setOutput(index: number, value: Value): void {
    this._outputs[index] = value;
  }

  /** Removes a node whose outputs are unused. Use-lists of its inputs shrink accordingly. */
  erase(node: Node): void {
    if (!node._alive) return;
    for (const v of node._outputs) {
      if (v && (v._uses.length || this.outputs.includes(v))) {
        throw new Error(`cannot erase ${node.name}: output ${v.name} is still used`);
      }
    }
    node._inputs.forEach((v, i) => {
      if (v) v._uses = v._uses.filter((u) => !(u.node === node && u.index === i));
    });
    this.setImplicitInputs(node, []);
    for (const v of node._outputs) if (v) this.names.delete(v.name);
    node._alive = false;
  }

  /** Drops a weight that nothing reads any more. */
  removeWeight(v: Value): void {
    if (v._uses.length || this.outputs.includes(v)) throw new Error(`weight ${v.name} is still used`);
    const i = this._weights.indexOf(v);
    if (i >= 0) this._weights.splice(i, 1);
    this.names.delete(v.name);
  }

  /** The opset version imported for `domain` ('' = ai.onnx). */
  opset(domain = ''): number | undefined {
    return this.model.opsets.find((o) => o.domain === domain || (domain === '' && o.domain === 'ai.onnx'))?.version;
  }

  /**
   * A copy to rewrite on its own (one target folds guidance, another does
   * not): new nodes and values with the same ids, names, types, attributes,
   * scopes and origins. Weight handles, attribute protos and imported protos
   * are shared: passes replace them, never change them in place.
   */
  clone(): Graph {
    const g = new Graph();
    g.name = this.name;
    g.model = {
      ...this.model,
      opsets: this.model.opsets.map((o) => ({ ...o })),
      metadata: this.model.metadata.map((m) => ({ ...m })),
    };
    const map = new Map<Value, Value>();
    const copy = (v: Value): Value => {
      const c = new Value(v.id, v.name);
      c.type = v.type && { dtype: v.type.dtype, shape: v.type.shape && [...v.type.shape] };
      c.weight = v.weight;
      map.set(v, c);
      return c;
    };
    const nodes = this.nodes();
    g._inputs = this._inputs.map(copy);
    g._weights = this._weights.map(copy);
    const copies = nodes.map((n) => {
      const c = new Node(n.id, n.op, n.domain, n.name, [...n.attrs], n.scope, n.origin);
      c.proto = n.proto;
      c._outputs = n._outputs.map((v) => {
        if (!v) return undefined;
        const o = copy(v);
        o._producer = c;
        return o;
      });
      return c;
    });
    // Inputs after every output exists: the order need not be topological.
    nodes.forEach((n, k) => {
      const c = copies[k];
      const mapped = (v: Value) => map.get(v) ?? copy(v);
      n._inputs.forEach((v, i) => {
        const m = v && mapped(v);
        c._inputs.push(m);
        m?._uses.push({ node: c, index: i });
      });
      c._implicit = n._implicit.map(mapped);
      for (const v of c._implicit) v._uses.push({ node: c, index: -1 });
    });
    g._outputs = this._outputs.map((v) => map.get(v) ?? copy(v));
    g.order = copies;
    g.nextId = this.nextId;
    g.names = new Set(this.names);
    return g;
  }

  /** @internal used by toposort to install a new order of the same nodes. */
  _setOrder(nodes: Node[]): void {
    this.order = nodes;
  }
}
