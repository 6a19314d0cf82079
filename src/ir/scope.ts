// A node's module scope, the diffusers module path it was traced from.
// TorchScript exports spell it in the node name (`/down_blocks.1/attentions.0/
// transformer_blocks.0/attn1/to_q/MatMul`); dynamo exports put it in
// metadata_props `pkg.torch.onnx.name_scopes` as a Python list repr of
// cumulative paths whose last entry is the node's own name.
import { onnx, type NodeProto } from '../onnx/proto.ts';

const NAME_SCOPES = 'pkg.torch.onnx.name_scopes';
// NodeProto.metadata_props (onnx >= 1.16) is newer than onnx-proto's schema,
// so it arrives among the preserved unknown fields.
const METADATA_PROPS_FIELD = 9;

export function scopeOf(n: NodeProto): string {
  const dynamo = nodeMetadata(n).get(NAME_SCOPES);
  if (dynamo !== undefined) return scopeFromNameScopes(dynamo);
  return scopeFromName(n.name ?? '');
}

export function scopeFromName(name: string): string {
  if (!name.startsWith('/')) return '';
  const parts = name.split('/').slice(1, -1);
  return parts.join('.');
}

export function scopeFromNameScopes(repr: string): string {
  const items = [...repr.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2]);
  // Cumulative paths: the deepest module is the entry before the node's own name.
  return items.length >= 2 ? items[items.length - 2] : '';
}

export function nodeMetadata(n: NodeProto): Map<string, string> {
  const out = new Map<string, string>();
  const unknown = (n as { $unknown?: { field: number; wireType: number; value: unknown }[] }).$unknown;
  for (const f of unknown ?? []) {
    if (f.field !== METADATA_PROPS_FIELD || f.wireType !== 2) continue;
    const e = onnx.StringStringEntryProto.decode(f.value as Uint8Array);
    out.set(e.key ?? '', e.value ?? '');
  }
  return out;
}
