// Bicubic resampling of 8-bit RGB as Pillow's Image.resize(BICUBIC) does it
// (what CLIPImageProcessor calls): separable, Keys' cubic with a = −0.5, the
// kernel stretched by the scale when shrinking (so it averages, not aliases),
// weights normalized per output pixel, horizontal pass first, each pass
// rounded and clipped to 8 bits.

const cubic = (x: number): number => {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
};

interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const wgt = cubic((i - center + 0.5) / filterScale);
      weights[o * stride + i - lo] = wgt;
      total += wgt;
    }
    if (total !== 0) for (let i = 0; i < hi - lo; i++) weights[o * stride + i] /= total;
    first[o] = lo;
    count[o] = hi - lo;
  }
  return { first, count, weights, stride };
}

const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Interleaved RGB `w×h` → interleaved RGB `outW×outH`. */
export function resizeBicubic(rgb: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  const tx = taps(w, outW);
  const mid = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < tx.count[x]; k++)
          s += tx.weights[x * tx.stride + k] * rgb[3 * (y * w + tx.first[x] + k) + c];
        mid[3 * (y * outW + x) + c] = clip8(s);
      }
    }
  }
  const ty = taps(h, outH);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < ty.count[y]; k++)
          s += ty.weights[y * ty.stride + k] * mid[3 * ((ty.first[y] + k) * outW + x) + c];
        out[3 * (y * outW + x) + c] = clip8(s);
      }
    }
  }
  return out;
}
