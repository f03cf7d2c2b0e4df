// The data floor: CIFAR binary and image-folder readers on synthetic files, the decoded cache, the
// split, augmentation invariants, the DataLoader (determinism, workers) and the offline download error.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { memory, TorchError } from '../src/index.js';
import { crc32 } from '../src/io/zip.js';
import {
  affineTheta,
  BatchNormalizer,
  CACHE_VERSION,
  CacheError,
  CIFAR,
  cifarRecords,
  cropImage,
  DataLoader,
  decodeImage,
  downloadCifar,
  alternatingFlip,
  drawAffineThetas,
  drawAugmentParams,
  encodeImageFolder,
  encodeJpeg,
  encodePng,
  flipImage,
  hwcToChw,
  type ImageDataset,
  loadCifar,
  loadDataset,
  loadImageFolder,
  parseTar,
  readCifar,
  readDecodedCache,
  renderBatch,
  Rng,
  splitTrainVal,
  syntheticImages,
  writeDecodedCache,
  writeImageFolder,
  writeImageFolderArchive,
  writeSyntheticCifar,
  writeTar,
  writeTarGz,
} from '../src/data/index.js';

let root: string;
const dir = (name: string): string => {
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  return path;
};

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pdenet-data-'));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** `data` written as an image folder and loaded once: the folder, its cache folder and the decoded cache file. */
async function cachedFolder(
  name: string,
  data: ImageDataset,
): Promise<{ folder: string; caches: string; path: string }> {
  const folder = dir(name);
  const caches = dir(`${name}-caches`);
  await writeImageFolder(folder, data);
  await loadImageFolder(folder, { cacheDir: caches });
  return { folder, caches, path: join(caches, readdirSync(caches)[0]!) };
}

function assertSameDataset(actual: ImageDataset, expected: ImageDataset): void {
  assert.equal(actual.n, expected.n);
  assert.deepEqual(
    [actual.height, actual.width, actual.channels],
    [expected.height, expected.width, expected.channels],
  );
  assert.deepEqual(actual.classes, expected.classes);
  assert.deepEqual(Array.from(actual.labels), Array.from(expected.labels));
  assert.ok(Buffer.from(actual.images).equals(Buffer.from(expected.images)), 'the pixels differ');
}

describe('CIFAR binary format', () => {
  it('reads labels and pixels exactly, turning CHW records into HWC images', async () => {
    // one hand-made record: label 7, red = x, green = y, blue = 255 − x − y
    const record = new Uint8Array(3073);
    record[0] = 7;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        record[1 + y * 32 + x] = x;
        record[1 + 1024 + y * 32 + x] = y;
        record[1 + 2048 + y * 32 + x] = 255 - x - y;
      }
    }
    const folder = dir('cifar-hand/cifar-10-batches-bin');
    writeFileSync(join(folder, 'test_batch.bin'), record);
    const d = await readCifar(folder, { split: 'test' });
    assert.equal(d.n, 1);
    assert.equal(d.labels[0], 7);
    assert.deepEqual(d.classes, [
      'airplane',
      'automobile',
      'bird',
      'cat',
      'deer',
      'dog',
      'frog',
      'horse',
      'ship',
      'truck',
    ]);
    for (const [y, x] of [
      [0, 0],
      [3, 17],
      [31, 31],
    ] as const) {
      assert.deepEqual(Array.from(d.image(0).subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3)), [x, y, 255 - x - y]);
    }
  });

  it('reads a synthetic CIFAR-10 release from its folder, its parent and its .tar.gz', async () => {
    const base = dir('cifar10');
    const { train, test, folder, archive } = writeSyntheticCifar(base, 'cifar10', {
      trainPerClass: 3,
      testPerClass: 2,
      archive: true,
    });
    assert.equal(readdirSync(folder).length, 7);
    assertSameDataset(await readCifar(folder), train);
    assertSameDataset(await readCifar(base, { split: 'test' }), test);
    assertSameDataset(await readCifar(archive!, { split: 'train' }), train);
    assertSameDataset(await loadDataset(base, { split: 'test' }), test);
    // loadCifar finds the extracted folder in the data directory and downloads nothing
    assertSameDataset(await loadCifar('cifar10', { dataDir: base, download: false }), train);
  });

  it('reads CIFAR-100 fine and coarse labels', async () => {
    const base = dir('cifar100');
    const { train } = writeSyntheticCifar(base, 'cifar100', { trainPerClass: 1, testPerClass: 1, archive: true });
    const fine = await readCifar(base);
    assertSameDataset(fine, train);
    const coarse = await readCifar(join(base, CIFAR.cifar100.archive), { labels: 'coarse' });
    assert.deepEqual(
      Array.from(coarse.labels),
      Array.from(train.labels, (l) => l % 20),
    );
    assert.equal(coarse.classes.length, 20);
    assert.equal(coarse.classes[3], 'coarse3');
  });

  it('gives clear errors for truncated or corrupt files', async () => {
    const base = dir('cifar-bad');
    const { folder, archive } = writeSyntheticCifar(base, 'cifar10', {
      trainPerClass: 1,
      testPerClass: 1,
      archive: true,
    });
    const batch = join(folder, 'test_batch.bin');
    const bytes = readFileSync(batch);
    writeFileSync(batch, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(
      readCifar(folder, { split: 'test' }),
      /test_batch\.bin is truncated or not a CIFAR binary file/,
    );
    const corrupt = Buffer.from(bytes);
    corrupt[3073] = 200;
    writeFileSync(batch, corrupt);
    await assert.rejects(readCifar(folder, { split: 'test' }), /test_batch\.bin is corrupt: record 1 has label 200/);
    rmSync(join(folder, 'data_batch_3.bin'));
    await assert.rejects(readCifar(folder), /CIFAR-10 is incomplete: .*data_batch_3\.bin is missing/);
    const gz = readFileSync(archive!);
    writeFileSync(archive!, gz.subarray(0, gz.length >> 1));
    await assert.rejects(readCifar(archive!), /cifar-10-binary\.tar\.gz is truncated or corrupt/);
    writeFileSync(archive!, Buffer.from('not an archive at all'));
    await assert.rejects(readCifar(archive!), /is not a gzip file/);
  });
});

describe('downloading CIFAR', () => {
  it('says which file to download and where to put it when offline', async () => {
    const dataDir = dir('offline');
    const error = await downloadCifar('cifar10', dataDir, { url: 'http://127.0.0.1:9/cifar-10-binary.tar.gz' }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(error, 'the download should fail');
    assert.match(error.message, /cannot download CIFAR-10 from http:\/\/127\.0\.0\.1:9\//);
    assert.match(error.message, /https:\/\/www\.cs\.toronto\.edu\/~kriz\/cifar-10-binary\.tar\.gz/);
    assert.ok(error.message.includes(`put it at ${join(dataDir, 'cifar-10-binary.tar.gz')}`), error.message);
    assert.match(error.message, /c32a1d4ab5d03f1284b67883e8d87530/);
    assert.deepEqual(readdirSync(dataDir), [], 'no partial file is left behind');
    await assert.rejects(
      loadCifar('cifar100', { dataDir, download: false }),
      /CIFAR-100 is not in .*Download cifar-100-binary\.tar\.gz .*MD5 03b5dce01913d631647c71ecec9e9cb8/,
    );
  });

  it('says where to put the file when the data directory cannot be written, and leaves no timer running', async (t) => {
    // root writes into folders whose mode forbids it; sysfs refuses even root
    let readOnly = '/sys/kernel';
    if (process.getuid?.() !== 0) {
      readOnly = dir('read-only');
      chmodSync(readOnly, 0o555);
    } else if (!existsSync(readOnly)) {
      t.skip('no folder here that root cannot write');
      return;
    }
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const error = await downloadCifar('cifar10', readOnly, { url: 'http://127.0.0.1:9/c.tgz' }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(error instanceof TorchError, `expected a TorchError, got ${error}`);
    assert.match(error.message, /cannot write to the data directory \/.*: E[A-Z]+: /);
    assert.ok(error.message.includes(`put it at ${join(readOnly, 'cifar-10-binary.tar.gz')}`), error.message);
    assert.equal(timers(), before, 'no idle watchdog is left to keep the process alive');
  });

  it('checks the MD5 of what it downloads and keeps nothing that fails', async () => {
    const payload = writeTarGz([{ name: 'cifar-10-batches-bin/test_batch.bin', data: new Uint8Array(3073) }]);
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': payload.length });
      res.end(payload);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const dataDir = dir('mirror');
      const seen: number[] = [];
      await assert.rejects(
        downloadCifar('cifar10', dataDir, {
          url: `http://127.0.0.1:${port}/c.tgz`,
          onProgress: (received) => seen.push(received),
        }),
        /has MD5 [0-9a-f]{32}, not the published c32a1d4ab5d03f1284b67883e8d87530/,
      );
      assert.equal(seen.at(-1), payload.length);
      assert.deepEqual(readdirSync(dataDir), []);
    } finally {
      server.close();
    }
  });
});

describe('image folders', () => {
  const cacheDir = (): string => dir('cache');

  it('reads PNG folders bit-exactly, classes sorted like torchvision', async () => {
    const data = syntheticImages({ perClass: 3, classes: ['cat', 'Dog', 'ant'], seed: 1 });
    const folder = dir('png');
    await writeImageFolder(folder, data, { format: 'png' });
    const loaded = await loadImageFolder(folder, { cache: false });
    // torchvision sorts class names by code point: uppercase first
    assert.deepEqual(loaded.classes, ['Dog', 'ant', 'cat']);
    const order = ['Dog', 'ant', 'cat'].flatMap((c) => [0, 1, 2].map((i) => data.classes.indexOf(c) * 3 + i));
    const expected = data.subset(order);
    assert.deepEqual(Array.from(loaded.labels), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert.ok(Buffer.from(loaded.images).equals(Buffer.from(expected.images)));
  });

  it('reads JPEG folders close to the original pixels', async () => {
    const data = syntheticImages({ perClass: 2, classes: 3, seed: 2 });
    const folder = dir('jpeg');
    await writeImageFolder(folder, data, { format: 'jpeg', quality: 95 });
    const loaded = await loadImageFolder(folder, { cache: false });
    assert.deepEqual(Array.from(loaded.labels), Array.from(data.labels));
    let sum = 0;
    for (let i = 0; i < data.images.length; i++) sum += Math.abs(loaded.images[i]! - data.images[i]!);
    assert.ok(sum / data.images.length < 6, `mean error ${sum / data.images.length} levels`);
  });

  it('reads a .tar.gz of an image folder, as --data DIR with train.tar.gz', async () => {
    const data = syntheticImages({ perClass: 2, classes: 3, seed: 3 });
    const base = dir('archived');
    await writeImageFolderArchive(join(base, 'train.tar.gz'), data, { format: 'png' });
    const loaded = await loadDataset(base, { cacheDir: cacheDir() });
    assertSameDataset(loaded, data);
    await assert.rejects(loadDataset(base, { split: 'test' }), /has no test split.*--val-split/);
    const gz = readFileSync(join(base, 'train.tar.gz'));
    const cut = join(dir('archived-cut'), 'train.tar.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 20));
    await assert.rejects(
      loadDataset(join(cut, '..'), { cacheDir: cacheDir() }),
      /train\.tar\.gz is truncated or corrupt: gzip says/,
    );
  });

  it('resizes when the images differ in size', async () => {
    const data = syntheticImages({ perClass: 2, classes: 2, seed: 4, height: 8, width: 8 });
    const folder = dir('sizes');
    await writeImageFolder(folder, data);
    const big = new Uint8Array(16 * 16 * 3).fill(200);
    writeFileSync(join(folder, data.classes[1]!, 'zz.png'), encodePng(big, 16, 16));
    const notes: string[] = [];
    const loaded = await loadImageFolder(folder, { cache: false, log: (m) => notes.push(m) });
    assert.deepEqual([loaded.n, loaded.height, loaded.width], [5, 8, 8]);
    assert.ok(
      loaded.image(4).every((v) => v === 200),
      'a flat image stays flat when resized',
    );
    assert.match(notes.join('\n'), /2 sizes; resizing all to the most common, 8×8/);
  });

  it('names the file that is damaged', async () => {
    const folder = dir('damaged/cls');
    writeFileSync(join(folder, 'a.png'), encodePng(new Uint8Array(12), 2, 2).subarray(0, 30));
    await assert.rejects(
      loadImageFolder(join(folder, '..'), { cache: false }),
      /cls\/a\.png is not a readable PNG file/,
    );
    writeFileSync(join(folder, 'a.png'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    await assert.rejects(
      loadImageFolder(join(folder, '..'), { cache: false }),
      /cls\/a\.png is not a readable JPEG file/,
    );
    await assert.rejects(decodeImage(new Uint8Array(10), 'x.bin'), /x\.bin is neither a JPEG nor a PNG/);
  });
});

describe('image folders: splits, damage and odd entries', () => {
  const train = syntheticImages({ perClass: 2, classes: ['a', 'b'], seed: 11 });
  const test = syntheticImages({ perClass: 1, classes: ['a', 'b'], seed: 12 });
  /** A .tar.gz holding each dataset of `tree` as class folders under its key ('' for the top). */
  const archive = async (path: string, tree: Record<string, ImageDataset>): Promise<string> => {
    const entries: { name: string; data: Uint8Array }[] = [];
    for (const [top, data] of Object.entries(tree)) {
      for (const f of await encodeImageFolder(data))
        entries.push({ name: top ? `${top}/${f.name}` : f.name, data: f.data });
    }
    writeFileSync(path, writeTarGz(entries));
    return path;
  };

  it('reads the split asked for from an archive, and names the splits it holds when that one is not there', async () => {
    const base = dir('splits');
    const options = { cache: false };
    // train/ alone, as the CIFAR-10 JPEG archive: the train split, and without a split asked for
    const onlyTrain = join(base, 'only-train.tar.gz');
    await writeImageFolderArchive(onlyTrain, train);
    assertSameDataset(await loadImageFolder(onlyTrain, { ...options, split: 'train' }), train);
    assertSameDataset(await loadImageFolder(onlyTrain, options), train);
    await assert.rejects(
      loadImageFolder(onlyTrain, { ...options, split: 'test' }),
      /no test split in .*only-train\.tar\.gz: it holds train\/$/,
    );
    await assert.rejects(
      loadDataset(onlyTrain, { ...options, split: 'test' }),
      /no test split in .*: it holds train\//,
    );
    // train/ and test/, also inside a folder around them
    const both = await archive(join(base, 'both.tar.gz'), { train, test });
    const wrapped = await archive(join(base, 'wrapped.tar.gz'), { 'cifar/train': train, 'cifar/test': test });
    for (const path of [both, wrapped]) {
      assertSameDataset(await loadImageFolder(path, { ...options, split: 'test' }), test);
      assertSameDataset(await loadDataset(path, options), train);
    }
    await assert.rejects(loadImageFolder(both, options), /both\.tar\.gz holds the splits test\/, train\/: choose one/);
    await assert.rejects(
      loadImageFolder(wrapped, { ...options, split: 'val' }),
      /no val split in .*wrapped\.tar\.gz: it holds cifar\/test\/, cifar\/train\//,
    );
    // class folders at the top: the train split, as a folder of class folders is for loadDataset
    const flat = await archive(join(base, 'flat.tar.gz'), { '': train });
    assertSameDataset(await loadDataset(flat, options), train);
    assertSameDataset(await loadImageFolder(flat, options), train);
    await assert.rejects(
      loadImageFolder(flat, { ...options, split: 'test' }),
      /no test split in .*flat\.tar\.gz: it has no test\/ folder, and its class folders \(a, b\) are its train split/,
    );
    await assert.rejects(loadDataset(flat, { ...options, split: 'test' }), /no test split in .*flat\.tar\.gz/);
    // test.tar.gz of class folders in a data folder is the test split, as test/ would be
    const data = dir('splits/data');
    await archive(join(data, 'test.tar.gz'), { '': test });
    await writeImageFolderArchive(join(data, 'train.tar.gz'), train);
    assertSameDataset(await loadDataset(data, { ...options, split: 'test' }), test);
    assertSameDataset(await loadDataset(data, options), train);
  });

  it('takes a JPEG cut short for damaged, not for an image filled with grey', async () => {
    const data = syntheticImages({ perClass: 1, classes: 1, seed: 13 });
    const jpeg = await encodeJpeg(data.image(0), data.width, data.height, 95);
    const whole = await decodeImage(jpeg, 'whole.jpg');
    assert.deepEqual([whole.width, whole.height, whole.data.length], [32, 32, 32 * 32 * 3]);
    const half = jpeg.subarray(0, jpeg.length >> 1);
    await assert.rejects(
      decodeImage(half, 'half.jpg'),
      /half\.jpg is not a readable JPEG file \(truncated or corrupt\): Premature end of JPEG file$/,
    );
    const folder = dir('half-jpeg/cls');
    writeFileSync(join(folder, 'a.jpg'), half);
    await assert.rejects(
      loadImageFolder(join(folder, '..'), { cache: false }),
      /half-jpeg: cls\/a\.jpg is not a readable JPEG file \(truncated or corrupt\): Premature end of JPEG file/,
    );
  });

  it('refuses a class folder without images, in a folder and in an archive alike', async () => {
    const data = syntheticImages({ perClass: 1, classes: ['a', 'c'], seed: 14 });
    const folder = dir('empty-class');
    await writeImageFolder(folder, data);
    mkdirSync(join(folder, 'b'));
    writeFileSync(join(folder, 'b', 'notes.txt'), 'no images here');
    await assert.rejects(
      loadImageFolder(folder, { cache: false }),
      /empty-class has class folders without images \(\.jpg, \.jpeg, \.png\): b; remove them or add images/,
    );
    const files = await encodeImageFolder(data);
    const path = join(dir('empty-class-archive'), 'train.tar.gz');
    writeFileSync(
      path,
      writeTarGz([
        { name: 'train/' },
        { name: 'train/b/' },
        { name: 'train/b/notes.txt', data: new TextEncoder().encode('no images here') },
        ...files.map((f) => ({ name: `train/${f.name}`, data: f.data })),
      ]),
    );
    await assert.rejects(
      loadImageFolder(path, { cache: false }),
      /train\.tar\.gz has class folders without images \(\.jpg, \.jpeg, \.png\): train\/b; remove them/,
    );
    rmSync(join(folder, 'b'), { recursive: true });
    assertSameDataset(await loadImageFolder(folder, { cache: false }), data);
  });

  it('names a broken symbolic link', async () => {
    const data = syntheticImages({ perClass: 1, classes: ['a'], seed: 15 });
    const folder = dir('broken-link');
    await writeImageFolder(folder, data);
    const link = join(folder, 'a', 'gone.png');
    symlinkSync(join(folder, 'nowhere.png'), link);
    await assert.rejects(
      loadImageFolder(folder, { cache: false }),
      (e: unknown) =>
        e instanceof TorchError &&
        e.message.includes(
          `${link} is a broken symbolic link: its target ${join(folder, 'nowhere.png')} does not exist`,
        ),
    );
    rmSync(link);
    symlinkSync(join(folder, 'no-class'), join(folder, 'b'));
    await assert.rejects(
      loadImageFolder(folder, { cache: false }),
      (e: unknown) => e instanceof TorchError && e.message.includes(`${join(folder, 'b')} is a broken symbolic link`),
    );
    rmSync(join(folder, 'b'));
    assertSameDataset(await loadImageFolder(folder, { cache: false }), data);
  });

  it('writes its files atomically: writing over a folder fails clearly and leaves no temporary file', async () => {
    const data = syntheticImages({ perClass: 1, classes: 2, seed: 16 });
    const base = dir('atomic');
    mkdirSync(join(base, 'train.tar.gz'));
    await assert.rejects(
      writeImageFolderArchive(join(base, 'train.tar.gz'), data),
      (e: unknown) =>
        e instanceof TorchError && /^writeImageFolderArchive: cannot write .*train\.tar\.gz: /.test(e.message),
    );
    await writeImageFolder(join(base, 'folder'), data);
    assert.deepEqual(readdirSync(base).sort(), ['folder', 'train.tar.gz']);
    assert.deepEqual(readdirSync(join(base, 'train.tar.gz')), []);
    mkdirSync(join(base, 'cifar', CIFAR.cifar10.archive), { recursive: true });
    assert.throws(
      () => writeSyntheticCifar(join(base, 'cifar'), 'cifar10', { archive: true }),
      (e: unknown) => e instanceof TorchError && /^writeSyntheticCifar: cannot write /.test(e.message),
    );
    assert.deepEqual(readdirSync(join(base, 'cifar')).sort(), [CIFAR.cifar10.folder, CIFAR.cifar10.archive]);
    assertSameDataset(await loadImageFolder(join(base, 'folder'), { cache: false }), data);
  });
});

describe('the decoded cache', () => {
  it('serves the second load, and a changed file invalidates it', async () => {
    const data = syntheticImages({ perClass: 2, classes: 2, seed: 5 });
    const folder = dir('cached');
    const caches = dir('cached-caches');
    await writeImageFolder(folder, data);
    const notes: string[] = [];
    const log = (m: string): number => notes.push(m);
    const first = await loadImageFolder(folder, { cacheDir: caches, log });
    assert.equal(readdirSync(caches).length, 1);
    assert.deepEqual(notes, []);
    const second = await loadImageFolder(folder, { cacheDir: caches, log });
    assertSameDataset(second, first);
    assert.match(notes.pop()!, /read the decoded cache/);
    // change one file's pixels (and its time, as an editor would)
    const file = join(folder, data.classes[0]!, '0001.png');
    writeFileSync(file, encodePng(new Uint8Array(32 * 32 * 3).fill(9), 32, 32));
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const third = await loadImageFolder(folder, { cacheDir: caches, log });
    assert.match(notes.join('\n'), /changed since its decoded cache was written/);
    assert.ok(third.image(1).every((v) => v === 9));
    const fourth = await loadImageFolder(folder, { cacheDir: caches, log });
    assertSameDataset(fourth, third);
  });

  it('reports a corrupt or truncated cache clearly and rebuilds it', async () => {
    const data = syntheticImages({ perClass: 2, classes: 2, seed: 6 });
    const { folder, caches, path } = await cachedFolder('corrupt-cache', data);
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 7]! ^= 0xff;
    writeFileSync(path, flipped);
    assert.throws(
      () => readDecodedCache(path),
      (e: unknown) => e instanceof CacheError && /fail their checksum/.test(e.message),
    );
    const notes: string[] = [];
    assertSameDataset(await loadImageFolder(folder, { cacheDir: caches, log: (m) => notes.push(m) }), data);
    assert.match(notes.join('\n'), /unusable: its contents fail their checksum.*decoding .* again/);
    truncateSync(path, 100);
    assert.throws(() => readDecodedCache(path), /decoded cache .* is unusable: truncated/);
    writeFileSync(path, 'hello, world, this is no cache');
    assert.throws(() => readDecodedCache(path), /not a pdenet decoded cache/);
    assertSameDataset(await loadImageFolder(folder, { cacheDir: caches }), data);
  });

  it('takes a header that is JSON but not an object for a damaged cache, and rebuilds it', async () => {
    const data = syntheticImages({ perClass: 1, classes: 2, seed: 17 });
    const { folder, caches, path } = await cachedFolder('odd-header', data);
    for (const [json, what] of [
      ['null', 'null'],
      ['7', 'a number'],
      ['[1]', 'an array'],
      ['"x"', 'a string'],
    ] as const) {
      const head = Buffer.alloc(16);
      head.write('PDNETIMG', 0, 'latin1');
      head.writeUInt32LE(CACHE_VERSION, 8);
      head.writeUInt32LE(json.length, 12);
      writeFileSync(path, Buffer.concat([head, Buffer.from(json)]));
      assert.throws(
        () => readDecodedCache(path),
        (e: unknown) => e instanceof CacheError && e.message.includes(`its header is ${what}, not an object`),
      );
    }
    const notes: string[] = [];
    assertSameDataset(await loadImageFolder(folder, { cacheDir: caches, log: (m) => notes.push(m) }), data);
    assert.match(notes.join('\n'), /its header is a string, not an object; decoding .* again/);
    assertSameDataset(readDecodedCache(path).dataset, data);
  });

  it("checksums with io's CRC-32, which serves where node:zlib has no crc32 (Node before 20.15)", async () => {
    const path = join(dir('old-node'), 'x.pdnimg');
    const script = `
      import zlib from 'node:zlib';
      import { syncBuiltinESMExports } from 'node:module';
      delete zlib.crc32;
      syncBuiltinESMExports();
      const { readDecodedCache, syntheticImages, writeDecodedCache } = await import(${JSON.stringify(new URL('../src/data/index.js', import.meta.url).href)});
      const { crc32 } = await import(${JSON.stringify(new URL('../src/io/zip.js', import.meta.url).href)});
      writeDecodedCache(${JSON.stringify(path)}, syntheticImages({ perClass: 2, classes: 2, seed: 18 }), 'fp', 'source');
      const { header } = readDecodedCache(${JSON.stringify(path)});
      console.log(JSON.stringify([header.labelsCrc32, header.imagesCrc32, crc32(new TextEncoder().encode('123456789'))]));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    const data = syntheticImages({ perClass: 2, classes: 2, seed: 18 });
    const labels = new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength);
    // the check value of CRC-32 (zip's, zlib's) is 0xcbf43926
    assert.deepEqual(JSON.parse(stdout), [crc32(labels), crc32(data.images), 0xcbf43926]);
    assertSameDataset(readDecodedCache(path).dataset, data);
  });

  it('round-trips a dataset through writeDecodedCache', () => {
    const data = syntheticImages({ perClass: 3, classes: 4, seed: 7, height: 5, width: 7 });
    const path = join(dir('rt'), 'x.pdnimg');
    writeDecodedCache(path, data, 'fp', 'source');
    const { dataset, header } = readDecodedCache(path);
    assertSameDataset(dataset, data);
    assert.equal(header.fingerprint, 'fp');
  });
});

describe('tar', () => {
  it('round-trips entries, long names included, and rejects a damaged header', () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/file.bin`;
    const tar = writeTar([
      { name: 'a/' },
      { name: 'a/x.txt', data: new TextEncoder().encode('hello') },
      { name: long, data: new Uint8Array(700).fill(3) },
    ]);
    const entries = parseTar(tar, 'mem');
    assert.deepEqual(
      entries.map((e) => [e.name, e.type, e.data.length]),
      [
        ['a', 'directory', 0],
        ['a/x.txt', 'file', 5],
        [long, 'file', 700],
      ],
    );
    const bad = tar.slice();
    bad[10]! ^= 1;
    assert.throws(() => parseTar(bad, 'mem'), /mem is not a readable tar archive or is corrupt/);
    assert.throws(() => parseTar(tar.subarray(0, 1200), 'mem'), /mem is truncated/);
  });
});

describe('splitTrainVal', () => {
  const data = syntheticImages({ perClass: 20, classes: 5, seed: 8, height: 4, width: 4 });

  it('is deterministic, disjoint, complete and stratified', () => {
    const a = splitTrainVal(data, 25, 1);
    const b = splitTrainVal(data, 25, 1);
    const c = splitTrainVal(data, 25, 2);
    assert.deepEqual(Array.from(a.valIndices), Array.from(b.valIndices));
    assert.notDeepEqual(Array.from(a.valIndices), Array.from(c.valIndices));
    assert.equal(a.val.n, 25);
    assert.equal(a.train.n, 75);
    const all = new Set([...a.trainIndices, ...a.valIndices]);
    assert.equal(all.size, 100);
    assert.deepEqual(a.val.classCounts(), [5, 5, 5, 5, 5]);
    assert.deepEqual(
      Array.from(a.val.labels),
      Array.from(a.valIndices, (i) => data.labels[i]!),
    );
    assert.ok(a.val.image(0).every((v, k) => v === data.image(a.valIndices[0]!)[k]));
    const odd = splitTrainVal(data, 7, 0);
    assert.equal(odd.val.n, 7);
    assert.ok(odd.val.classCounts().every((k) => k === 1 || k === 2));
    assert.throws(() => splitTrainVal(data, 101, 0), /0…100 images/);
  });
});

describe('augmentation', () => {
  const dims = { height: 6, width: 5, channels: 3 };
  const image = Uint8Array.from({ length: 90 }, (_, i) => (i * 37 + 11) % 256);
  const px = (img: Uint8Array, y: number, x: number): number[] =>
    Array.from(img.subarray((y * 5 + x) * 3, (y * 5 + x) * 3 + 3));

  it('crop keeps the size; 0 padding, or the centre offset, is the identity; zeros and reflect pad', () => {
    assert.deepEqual(cropImage(image, dims, 0, 0, 0), image);
    assert.deepEqual(cropImage(image, dims, 2, 2, 2, 'reflect'), image);
    const shifted = cropImage(image, dims, 2, 0, 0);
    assert.equal(shifted.length, image.length);
    assert.deepEqual(px(shifted, 0, 0), [0, 0, 0]);
    assert.deepEqual(px(shifted, 1, 4), [0, 0, 0]);
    assert.deepEqual(px(shifted, 2, 2), px(image, 0, 0));
    const reflected = cropImage(image, dims, 2, 0, 0, 'reflect');
    assert.deepEqual(px(reflected, 0, 0), px(image, 2, 2)); // padded −2 reflects to 2
    assert.deepEqual(px(reflected, 1, 3), px(image, 1, 1));
  });

  it('flip twice is the identity', () => {
    assert.deepEqual(flipImage(flipImage(image, dims), dims), image);
    assert.deepEqual(px(flipImage(image, dims), 3, 0), px(image, 3, 4));
  });

  it('renderBatch applies crop, flip and cutout as the single-image operations do', () => {
    const n = 7;
    const images = Uint8Array.from({ length: n * 90 }, (_, i) => (i * 53 + 7) % 256);
    const options = { crop: { padding: 2, mode: 'reflect' as const }, flip: true, cutout: { size: 2, p: 0.5 } };
    const params = drawAugmentParams(new Rng(3), n, options, dims);
    const indices = [6, 0, 3, 3];
    const out = renderBatch(images, dims, indices, params, options, [1, 2, 3]);
    indices.forEach((i, k) => {
      let img = cropImage(images.subarray(i * 90, (i + 1) * 90), dims, 2, params.dy[k]!, params.dx[k]!, 'reflect');
      if (params.flip[k]) img = flipImage(img, dims);
      if (params.cy[k]! >= 0) {
        for (let y = params.cy[k]! - 1; y < params.cy[k]! + 1; y++) {
          for (let x = params.cx[k]! - 1; x < params.cx[k]! + 1; x++) {
            if (y >= 0 && y < 6 && x >= 0 && x < 5) img.set([1, 2, 3], (y * 5 + x) * 3);
          }
        }
      }
      assert.deepEqual(out.subarray(k * 90, (k + 1) * 90), hwcToChw(img, dims), `image ${k}`);
    });
    assert.ok(params.flip.some((f) => f === 1) && params.flip.some((f) => f === 0));
  });

  it('normalizes a hand-made image to (x/255 − mean)/std', () => {
    const norm = new BatchNormalizer(3, { mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2] });
    const bytes = Uint8Array.from([0, 255, 51, 102, 0, 255, 51, 102, 255, 0, 102, 51]); // 1×3×2×2
    const x = norm.apply(bytes, [1, 3, 2, 2]);
    assert.deepEqual(x.shape, [1, 3, 2, 2]);
    assert.equal(x.dtype, 'float32');
    const got = Array.from(x.toTypedArray() as Float32Array);
    const expected = Array.from(bytes, (v, i) => (v / 255 - [0.5, 0.25, 0][i >> 2]!) / [0.5, 0.25, 2][i >> 2]!);
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]!) < 1e-5, `element ${i}: ${g} vs ${expected[i]}`));
    x.dispose();
  });

  it('affine with identity parameters is the identity; a quarter turn and a shift move pixels as stated', () => {
    const norm = new BatchNormalizer(1, null);
    const bytes = Uint8Array.from({ length: 2 * 16 }, (_, i) => (i * 29) % 256); // 2×1×4×4
    const plain = norm.apply(bytes, [2, 1, 4, 4]);
    const identity = drawAffineThetas(
      new Rng(0),
      2,
      { degrees: 0, translate: [0, 0], scale: [1, 1] },
      { height: 4, width: 4, channels: 1 },
    );
    const same = norm.apply(bytes, [2, 1, 4, 4], identity);
    assert.ok(same.allclose(plain, { atol: 1e-5 }));
    const d4 = { height: 4, width: 4, channels: 1 };
    const turn = Float32Array.from([...affineTheta(90, 0, 0, 1, d4), ...affineTheta(0, 1, 0, 1, d4)]);
    const moved = norm.apply(bytes, [2, 1, 4, 4], turn, 'nearest').toTypedArray() as Float32Array;
    const v = (i: number): number => bytes[i]! / 255;
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        // counter-clockwise quarter turn: out[y][x] = in[x][3 − y]
        assert.ok(Math.abs(moved[y * 4 + x]! - v(x * 4 + 3 - y)) < 1e-6, `turn at ${y},${x}`);
        // one pixel to the right, black coming in at the left
        assert.ok(
          Math.abs(moved[16 + y * 4 + x]! - (x === 0 ? 0 : v(16 + y * 4 + x - 1))) < 1e-6,
          `shift at ${y},${x}`,
        );
      }
    }
    for (const t of [plain, same]) t.dispose();
  });
});

describe('DataLoader', () => {
  const data = syntheticImages({ perClass: 7, classes: 3, seed: 9, height: 8, width: 8 }); // 21 images
  const augment = {
    crop: { padding: 2 },
    flip: true,
    cutout: { size: 3 },
    affine: { degrees: 10, translate: [0.1, 0.1] as [number, number], scale: [1, 1.2] as [number, number] },
  };
  const normalize = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
  const dims8 = { height: 8, width: 8, channels: 3 };

  async function collect(
    loader: DataLoader,
    epoch: number,
    start = 0,
  ): Promise<{ index: number; x: number[]; y: number[]; indices: number[] }[]> {
    const out = [];
    for await (const batch of loader.epoch(epoch, { start })) {
      assert.equal(batch.epoch, epoch);
      out.push({
        index: batch.index,
        x: Array.from(batch.x.toTypedArray() as Float32Array),
        y: Array.from(batch.y.toTypedArray() as BigInt64Array, Number),
        indices: Array.from(batch.indices),
      });
      assert.equal(batch.y.dtype, 'int64');
      assert.deepEqual(batch.x.shape, [batch.indices.length, 3, 8, 8]);
      batch.dispose();
      assert.ok(batch.x.isDisposed && batch.y.isDisposed);
    }
    return out;
  }

  it('gives the same batches for the same seed and epoch, another order for another epoch', async () => {
    const a = new DataLoader(data, { batchSize: 4, seed: 5, augment, normalize, prefetch: 0 });
    const b = new DataLoader(data, { batchSize: 4, seed: 5, augment, normalize, prefetch: 0 });
    const a0 = await collect(a, 0);
    assert.deepEqual(await collect(b, 0), a0);
    const a1 = await collect(a, 1);
    assert.notDeepEqual(
      a1.map((x) => x.indices),
      a0.map((x) => x.indices),
    );
    const other = new DataLoader(data, { batchSize: 4, seed: 6, augment, normalize, prefetch: 0 });
    assert.notDeepEqual(
      (await collect(other, 0)).map((x) => x.indices),
      a0.map((x) => x.indices),
    );
    // labels follow the images
    for (const batch of a0)
      assert.deepEqual(
        batch.y,
        batch.indices.map((i) => data.labels[i]!),
      );
    await Promise.all([a.close(), b.close(), other.close()]);
  });

  it('takes every image once per epoch; dropLast leaves out the short batch', async () => {
    const loader = new DataLoader(data, { batchSize: 4, seed: 1, prefetch: 0 });
    assert.equal(loader.length, 6);
    const batches = await collect(loader, 3);
    assert.deepEqual(
      batches.map((b) => b.indices.length),
      [4, 4, 4, 4, 4, 1],
    );
    assert.deepEqual(
      batches.flatMap((b) => b.indices).sort((p, q) => p - q),
      Array.from({ length: 21 }, (_, i) => i),
    );
    const dropping = new DataLoader(data, { batchSize: 4, seed: 1, dropLast: true, prefetch: 0 });
    assert.equal(dropping.length, 5);
    const kept = await collect(dropping, 3);
    assert.deepEqual(
      kept.map((b) => b.indices.length),
      [4, 4, 4, 4, 4],
    );
    assert.equal(new Set(kept.flatMap((b) => b.indices)).size, 20);
    const ordered = new DataLoader(data, { batchSize: 10, shuffle: false, prefetch: 0 });
    assert.deepEqual(
      (await collect(ordered, 0)).flatMap((b) => b.indices),
      Array.from({ length: 21 }, (_, i) => i),
    );
    await Promise.all([loader.close(), dropping.close(), ordered.close()]);
  });

  it('prefetching in worker threads gives the batches of the main thread; resuming mid-epoch too', async () => {
    const inline = new DataLoader(data, { batchSize: 4, seed: 2, augment, normalize, prefetch: 0 });
    const workers = new DataLoader(data, { batchSize: 4, seed: 2, augment, normalize, prefetch: 3, workers: 2 });
    const expected = await collect(inline, 4);
    assert.deepEqual(await collect(workers, 4), expected);
    assert.deepEqual(await collect(workers, 4, 2), expected.slice(2));
    // breaking out early leaves the loader usable
    for await (const batch of workers.epoch(5)) {
      batch.dispose();
      break;
    }
    assert.deepEqual(await collect(workers, 4), expected);
    assert.ok(workers.stats.batches > 0 && workers.stats.prepareMs > 0);
    const single = inline.batch(4, 3);
    assert.deepEqual(Array.from(single.x.toTypedArray() as Float32Array), expected[3]!.x);
    single.dispose();
    await Promise.all([inline.close(), workers.close()]);
    assert.throws(() => workers.epoch(0), /closed/);
  });

  it('leaves no tensors behind once batches and loader are disposed', async () => {
    const before = memory().liveTensors;
    const loader = new DataLoader(data, { batchSize: 8, augment, normalize, prefetch: 2 });
    for await (const batch of loader.epoch(0)) batch.dispose();
    await loader.close();
    assert.equal(memory().liveTensors, before);
  });

  it('alternating flips: each image once mirrored and once not in every two epochs, the same on every run', async () => {
    // Without crop or normalization, an image's bytes show whether it was mirrored.
    const loader = new DataLoader(data, { batchSize: 5, seed: 3, augment: { flip: 'alternate' }, prefetch: 0 });
    const pixels = (i: number, flipped: boolean) => {
      const img = data.image(i);
      return Array.from(hwcToChw(flipped ? flipImage(img, dims8) : img, dims8));
    };
    const flipsOf = async (epoch: number) => {
      const flips = new Array<boolean>(data.n);
      for (const batch of await collect(loader, epoch)) {
        batch.indices.forEach((i, k) => {
          const x = batch.x.slice(k * 192, (k + 1) * 192).map((v) => Math.round(v * 255));
          const mirrored = JSON.stringify(x) === JSON.stringify(pixels(i, true));
          assert.ok(
            mirrored || JSON.stringify(x) === JSON.stringify(pixels(i, false)),
            `image ${i} is itself or its mirror`,
          );
          flips[i] = mirrored;
        });
      }
      return flips;
    };
    const [e0, e1, e2] = [await flipsOf(0), await flipsOf(1), await flipsOf(2)];
    for (let i = 0; i < data.n; i++)
      assert.notEqual(e0[i], e1[i], `image ${i} is mirrored in exactly one of epochs 0 and 1`);
    assert.deepEqual(e2, e0, 'epoch 2 repeats epoch 0');
    assert.ok(e0.some((f) => f) && e0.some((f) => !f), 'the coin tosses differ between images');
    for (let i = 0; i < data.n; i++) assert.equal(alternatingFlip(3, i, 0), e0[i] ? 1 : 0);
    await loader.close();
  });

  it('rejects bad options clearly', () => {
    assert.throws(() => new DataLoader(data, { batchSize: 0 }), /batchSize must be an integer ≥ 1/);
    assert.throws(
      () => new DataLoader(data, { batchSize: 2, augment: { crop: { padding: 8, mode: 'reflect' } } }),
      /reflect padding 8 must be smaller than the image/,
    );
    assert.throws(
      () => new DataLoader(data, { batchSize: 2, normalize: { mean: [0.5], std: [0.5] } }),
      /need 3 values/,
    );
  });
});

describe('worker threads', () => {
  it('load nothing that loads the native addon', () => {
    // the worker imports only these files, and they import only each other and node: modules
    const folder = new URL('../src/data/', import.meta.url);
    for (const file of ['worker.js', 'augment.js', 'random.js']) {
      const source = readFileSync(new URL(file, folder), 'utf8');
      for (const [, spec] of source.matchAll(/^import [^;]*? from '([^']+)'/gm)) {
        assert.ok(
          spec!.startsWith('node:') || ['./augment.js', './random.js'].includes(spec!),
          `${file} imports ${spec}`,
        );
      }
    }
  });
});

describe('cifarRecords', () => {
  it('writes what readCifar reads', async () => {
    const data = syntheticImages({ perClass: 1, classes: 10, seed: 10 });
    const base = dir('records/cifar-10-batches-bin');
    writeFileSync(join(base, 'test_batch.bin'), cifarRecords(data));
    const loaded = await readCifar(base, { split: 'test' });
    assert.deepEqual(Array.from(loaded.labels), Array.from(data.labels));
    assert.ok(Buffer.from(loaded.images).equals(Buffer.from(data.images)));
    assert.ok(existsSync(base));
  });
});
