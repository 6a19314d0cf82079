// The catalog of user-facing diagnostic codes. Codes are stable: tests, CI
// scripts and users grep for them, so a code is never reused for another meaning.
//   PD1xxx  ONNX files and external data
//   PD2xxx  graph IR: verification and shape inference
//   PD3xxx  command line
//   PD5xxx  structural passes (remove-blocks, duplicate-blocks)
export const Code = {
  FileNotFound: 'PD1001',
  CorruptModel: 'PD1002',
  ExternalAbsolutePath: 'PD1003',
  ExternalParentPath: 'PD1004',
  ExternalEscapes: 'PD1005',
  ExternalMissing: 'PD1006',
  ExternalTruncated: 'PD1007',
  UnknownField: 'PD1008',
  UnknownDataType: 'PD1009',
  InlineTooLarge: 'PD1010',
  BadExternalEntry: 'PD1011',
  WriteFailed: 'PD1012',
  ModelTooLarge: 'PD1013',
  BadOutputName: 'PD1014',

  VerifyCycle: 'PD2001',
  VerifyUndefined: 'PD2002',
  VerifyUntyped: 'PD2003',
  UnboundDim: 'PD2004',
  ShapeError: 'PD2005',
  UnsupportedOp: 'PD2006',
  VerifyUseList: 'PD2007',

  Usage: 'PD3001',
  BadInputBinding: 'PD3002',

  UnknownBlock: 'PD5001',
  ChannelChange: 'PD5002',
  NoResidual: 'PD5003',
  BlockShape: 'PD5004',
} as const;
