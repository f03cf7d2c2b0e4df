/**
 * The model zoo: CIFAR ResNets (kuangliu's layout, the seed notebook's pre-activation layout, He et al.'s
 * ResNet-20…110), an ImageNet-style ResNet-50 with a coordinate-mixed Bottleneck (seed 003's), and PDEBlock nets — every one
 * with the twist per stage (switchable in place), and every convolution under one boundary condition.
 * @module
 */
export {
  createModel,
  listModels,
  modelInfo,
  modelNames,
  type ListOptions,
  type ImageModel,
  type ModelEntry,
  type ModelInfo,
  type ModelName,
  type OptionsOf,
} from './registry.js';
export type { TrainingAbilities } from './abilities.js';
export {
  MODEL_OPTION_KEYS,
  type BaseModelOptions,
  type ModelOptions,
  type NotebookModelOptions,
  type RKNetModelOptions,
  type SpeedNetModelOptions,
  type TwistModelOptions,
  type TwistMode,
} from './options.js';
export {
  ZooModel,
  setTwist,
  twistOn,
  twistParameters,
  twistStages,
  twistableStages,
  applyTwistSchedule,
  checkTwistSchedule,
  type StageConv,
  type TwistStep,
  type TwistSwitch,
} from './stages.js';
export { countFlops } from './flops.js';
export { rknet } from './rknet.js';
export { BasicBlock, Bottleneck, CifarResNet, resnet18, resnet34, resnet50, resnet101, resnet152 } from './resnet.js';
export { PreActBlock, PreActResNet, preactResnet18, preactResnet34, resnet10s, keyFromNotebook } from './preact.js';
export { HeBlock, HeResNet, resnet20, resnet32, resnet44, resnet56, resnet110, keyFromTrainRef } from './he.js';
export {
  NotebookBasicBlock,
  NotebookBottleneck,
  NotebookPDEBlock,
  NotebookResNet,
  notebookResnet18,
  notebookResnet34,
  notebookResnet50,
  notebookResnet101,
  notebookResnet152,
  notebookPdenet,
  notebookStateDict,
} from './notebook.js';
export {
  CoordMixBottleneck,
  CoordMixResNet,
  resnet50CoordMix,
  keyFromSeed003,
  Seed003Bottleneck,
  Seed003ResNet,
  resnet50Seed003,
} from './coordmix.js';
export { PDENet, PDENET_ITERATIONS, pdenetS, pdenetM } from './pdenet.js';
export { ConvGroup, SpeedNet, speednet } from './speednet.js';
