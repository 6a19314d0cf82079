// The catalog of user-facing diagnostic codes. Codes are stable: tests, CI
// scripts and users grep for them, so a code is never reused for another meaning.
//   PD1xxx  ONNX files and external data
//   PD2xxx  graph IR: verification and shape inference
//   PD3xxx  command line
//   PD4xxx  model builder: configs and built models
//   PD5xxx  structural passes (remove-blocks, duplicate-blocks)
//   PD6xxx  fold-cfg (classifier-free guidance and the scheduler step folded into the UNet)
//   PD7xxx  recipes
//   PD8xxx  cost model: device profiles, predictions, what-ifs, calibration
//   PD9xxx  channel widths (prune-channels) and quantization (quantize)
//   PD10xxx evolve: the architecture search, its scoring and metrics
//   PD11xxx distill: plans, teacher targets and checks for step and decoder distillation
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

  ConfigUnreadable: 'PD4001',
  ConfigBadJson: 'PD4002',
  ConfigUnknownModel: 'PD4003',
  ConfigUnsupported: 'PD4004',
  ConfigUnknownKey: 'PD4005',
  ConfigInvalid: 'PD4006',

  RecipeSyntax: 'PD7001',
  RecipeUnknownKey: 'PD7002',
  RecipeType: 'PD7003',
  RecipeValue: 'PD7004',
  RecipeRange: 'PD7005',
  RecipeExtendsMissing: 'PD7006',
  RecipeExtendsCycle: 'PD7007',
  RecipeModelMissing: 'PD7008',
  UnknownDevice: 'PD7009',
  RecipeNotFound: 'PD7010',
  RecipeMissing: 'PD7011',
  RecipeConflict: 'PD7012',
  RecipeFileMissing: 'PD7013',
  UnsupportedOnDevice: 'PD7014',
  ArtifactInvalid: 'PD7015',
  OutputNotWritable: 'PD7016',
  WrongModelRole: 'PD7017',
  RemovedAndDuplicated: 'PD7018',
  BudgetExceeded: 'PD7019',
  LatencyGrew: 'PD7020',
  ModelWithoutWeights: 'PD7021',
  ModelsMismatch: 'PD7022',

  UnknownBlock: 'PD5001',
  ChannelChange: 'PD5002',
  NoResidual: 'PD5003',
  BlockShape: 'PD5004',

  CfgNotUnet: 'PD6001',
  CfgTimestepType: 'PD6002',
  CfgInputType: 'PD6003',
  CfgBadUncond: 'PD6004',
  CfgBadSchedule: 'PD6005',
  CfgAlreadyFolded: 'PD6006',

  ProfileUnreadable: 'PD8001',
  ProfileInvalid: 'PD8002',
  CostUnknownShape: 'PD8003',
  WidthUnavailable: 'PD8004',
  BadWidth: 'PD8005',
  UnknownQuantize: 'PD8006',
  CalibrationRows: 'PD8007',
  MeasureFailed: 'PD8008',
  CalibrationFit: 'PD8009',
  ReferenceModel: 'PD8010',
  PrecisionFallback: 'PD8011',
  BudgetAtRisk: 'PD8012',
  ProfileOtherMachine: 'PD8013',

  WidthRange: 'PD9001',
  WidthBreaksGroups: 'PD9002',
  WidthNothingPrunable: 'PD9003',
  ImportanceMissing: 'PD9004',
  PruneInconsistent: 'PD9005',
  WidthTooLarge: 'PD9006',
  QuantizeScheme: 'PD9101',
  QuantizeOpset: 'PD9102',
  QuantizeNothing: 'PD9103',
  QuantizeBlockSize: 'PD9104',
  CalibrationInputs: 'PD9105',
  CalibrationRun: 'PD9106',
  CalibrationMissing: 'PD9107',
  QuantizeAbsentWeights: 'PD9108',

  EvolveBudgetFloor: 'PD10001',
  EvolveNoPrompts: 'PD10002',
  EvolveClipShape: 'PD10003',
  EvolveUnknownMetric: 'PD10004',
  EvolveClipMissing: 'PD10005',
  EvolveScoreFailed: 'PD10006',
  EvolveNoCandidates: 'PD10007',
  EvolveNoWeights: 'PD10008',
  EvolveJobFailed: 'PD10009',
  EvolveQueueUnreachable: 'PD10010',
  EvolveQueueLost: 'PD10011',

  DistillGridNotNested: 'PD11001',
  DistillTeacherSteps: 'PD11002',
  DistillScheduler: 'PD11003',
  DistillNoPrompts: 'PD11004',
} as const;
