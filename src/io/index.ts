/**
 * Weight files: safetensors and PyTorch's `.pt` (torch.save) state dicts, written atomically, and
 * the check that a state dict fits a model.
 *
 * - {@link saveSafetensors} / {@link loadSafetensors}: the safetensors format, every dtype bit for
 *   bit, with string metadata.
 * - {@link saveTorch} / {@link loadTorch}: state dicts that Python's `torch.save` / `torch.load`
 *   write and read; {@link loadTorchObject} / {@link saveTorchObject} for checkpoints holding more
 *   than tensors.
 * - {@link writeFileAtomic}: the temp-file-fsync-rename every save goes through.
 * - {@link checkStateDict}: missing keys, unexpected keys and shape mismatches, as PyTorch's
 *   `load_state_dict` reports them.
 * @module
 */
export { writeFileAtomic } from './atomic.js';
export {
  saveSafetensors,
  saveSafetensorsBuffer,
  loadSafetensors,
  loadSafetensorsBuffer,
  readSafetensorsHeader,
  type SafetensorsContent,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from './safetensors.js';
export { saveTorch, saveTorchBuffer, saveTorchObject, loadTorch, loadTorchBuffer, loadTorchObject } from './torch.js';
export {
  checkStateDict,
  formatStateDictReport,
  type TensorDict,
  type TensorSpec,
  type StateDictReport,
  type ShapeMismatch,
  type DTypeChange,
} from './statedict.js';
