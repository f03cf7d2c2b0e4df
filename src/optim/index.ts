/**
 * Optimizers and learning-rate schedules, with PyTorch's update formulas (torch.optim, 1.13) and state
 * dicts shaped like PyTorch's, so that a run can stop and resume bit for bit.
 *
 * | pdenet | PyTorch |
 * |---|---|
 * | {@link SGD} | `torch.optim.SGD` |
 * | {@link Adam} | `torch.optim.Adam` |
 * | {@link AdamW} | `torch.optim.AdamW` |
 * | {@link Muon} | `torch.optim.Muon` (2.9), with SGD's step for the groups it does not orthogonalize |
 * | {@link StepLR}, {@link MultiStepLR}, {@link CosineAnnealingLR}, {@link OneCycleLR} | `lr_scheduler` of the same names |
 * | {@link LinearWarmup} | `lr_scheduler.LinearLR` (+ `SequentialLR`) |
 * | {@link ReduceLROnPlateau} | `lr_scheduler.ReduceLROnPlateau` |
 * | {@link RiseAndDecayLR} | the seed notebook's `0.001 + x·e^(−x/x0)·e·y0/x0` |
 * | {@link Scheduler} | the stepping of `lr_scheduler._LRScheduler` |
 *
 * @example
 * const opt = new SGD(parameterGroupsForWeightDecay(model.namedParameters(), 5e-4),
 *   { lr: 0.1, momentum: 0.9, nesterov: true });
 * const sched = new Scheduler(opt, new OneCycleLR({ maxLr: 0.2, totalSteps }));
 * for (const batch of batches) {
 *   tidy(() => { opt.zeroGrad(); loss(model, batch).backward(); opt.step(); });
 *   sched.step();
 * }
 * opt.dispose(); // frees the momentum buffers
 * @module
 */
export {
  Optimizer,
  type BaseOptions,
  type OptionValue,
  type ParamGroup,
  type OptimizerGroup,
  type OptimizerStateDict,
  type ParamGroupStateDict,
  type ParamStateDict,
  type StateSpec,
} from './optimizer.js';
export { SGD, type SGDOptions, type SGDState, momentumDirection } from './sgd.js';
export { Muon, type MuonOptions, NEWTON_SCHULZ_COEFFICIENTS, zeropowerNewtonSchulz } from './muon.js';
export { Adam, AdamW, AdamBase, type AdamOptions, type AdamState } from './adam.js';
export { parameterGroupsForWeightDecay, type WeightDecayGroup } from './groups.js';
export {
  type Schedule,
  type ScheduleFunction,
  StepLR,
  MultiStepLR,
  LinearWarmup,
  CosineAnnealingLR,
  type WarmupOptions,
  OneCycleLR,
  type OneCycleOptions,
  RiseAndDecayLR,
  ReduceLROnPlateau,
  type PlateauOptions,
  type PlateauStateDict,
  Scheduler,
  type ScheduledGroup,
  type ScheduledOptimizer,
  type SchedulerStateDict,
} from './schedule.js';
