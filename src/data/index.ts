/**
 * The data floor of pdenet: datasets (CIFAR binary, image folders, synthetic), the decoded cache,
 * augmentation and the DataLoader.
 * @module
 */
export { ImageDataset, splitTrainVal, type ImageDatasetInit } from './dataset.js';
export { Rng, permutation } from './random.js';
export {
  CIFAR,
  CIFAR10_CLASSES,
  readCifar,
  loadCifar,
  downloadCifar,
  parseCifarRecords,
  md5File,
  type CifarName,
  type CifarSpec,
  type CifarReadOptions,
  type DownloadOptions,
  type LoadCifarOptions,
} from './cifar.js';
export { loadImageFolder, type ImageFolderOptions } from './imagefolder.js';
export { loadDataset, type LoadDatasetOptions } from './sources.js';
export { readDecodedCache, writeDecodedCache, CacheError, CACHE_VERSION, type CacheHeader } from './cache.js';
export {
  decodeImage,
  encodePng,
  encodeJpeg,
  resizeImage,
  IMAGE_EXTENSIONS,
  CODEC_ID,
  type DecodedImage,
} from './codec.js';
export { resolveDataDir, defaultCacheDir } from './paths.js';
export { parseTar, readTarGz, writeTar, writeTarGz, type TarEntry } from './tar.js';
export {
  alternatingFlip,
  cropImage,
  flipImage,
  hwcToChw,
  drawAugmentParams,
  drawAffineThetas,
  affineTheta,
  renderBatch,
  normalizeBytes,
  type AugmentOptions,
  type AffineOptions,
  type AugmentParams,
  type CropPadding,
  type ImageDims,
} from './augment.js';
export { BatchNormalizer, CIFAR10_NORMALIZATION, type Normalization } from './transforms.js';
export { DataLoader, type DataLoaderOptions, type Batch, type LoaderStats } from './loader.js';
export {
  syntheticImages,
  writeSyntheticCifar,
  writeImageFolder,
  writeImageFolderArchive,
  encodeImageFolder,
  cifarRecords,
  type SyntheticOptions,
  type SyntheticCifarOptions,
  type WriteImageFolderOptions,
} from './synthetic.js';
