// Finds libtorch, the way tch-rs does, in a fixed and documented order:
//   1. LIBTORCH=/path — a directory with include/ and lib/ (an official download, CUDA builds included);
//   2. the system install — headers under /usr/include/torch, libtorch.so on the library path
//      (Debian: `apt-get install libtorch-dev`).
// It also reads the version (torch/version.h) and the C++11 ABI flag the library was built with, and
// whether gloo's headers are there (c10d's ProcessGroupGloo.hpp includes them; Debian ships them in
// libgloo-dev): without them the addon builds without distributed training.
//
// Used by bootstrap.mjs and build-native.mjs, and by binding.gyp:
//   node scripts/libtorch.mjs <includes|libdir|abi|gloo|json>
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Oldest libtorch pdenet builds against; newer versions are accepted with a notice when untested. */
export const MIN_VERSION = [1, 13];
/** Versions the test suite has run against. */
export const TESTED = ['1.13'];

const SYSTEM_LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/usr/local/lib',
];

function fromRoot(root) {
  const includes = [join(root, 'include'), join(root, 'include/torch/csrc/api/include')];
  const libdir = join(root, 'lib');
  if (!existsSync(join(includes[1], 'torch/version.h'))) {
    throw new Error(
      `LIBTORCH=${root} has no include/torch/csrc/api/include/torch/version.h; ` +
        'point LIBTORCH at an unpacked libtorch (the folder holding include/ and lib/).',
    );
  }
  if (!existsSync(join(libdir, 'libtorch.so'))) {
    throw new Error(`LIBTORCH=${root} has no lib/libtorch.so.`);
  }
  return { source: 'LIBTORCH', root, includes, libdir };
}

function fromSystem() {
  const include = '/usr/include/torch/csrc/api/include';
  if (!existsSync(join(include, 'torch/version.h'))) return null;
  const libdir = SYSTEM_LIB_DIRS.find((d) => existsSync(join(d, 'libtorch.so')));
  if (!libdir) return null;
  return { source: 'system', root: '/usr', includes: [include], libdir };
}

function readVersion(includes) {
  for (const dir of includes) {
    const file = join(dir, 'torch/version.h');
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const num = (name) => Number(new RegExp(`#define\\s+TORCH_VERSION_${name}\\s+(\\d+)`).exec(text)?.[1]);
    const major = num('MAJOR');
    const minor = num('MINOR');
    const patch = num('PATCH');
    return { major, minor, patch, string: `${major}.${minor}.${patch}` };
  }
  throw new Error(`torch/version.h not found in ${includes.join(', ')}`);
}

// The C++11 ABI: symbols of a library built with _GLIBCXX_USE_CXX11_ABI=1 carry "cxx11" in their
// mangled names (std::__cxx11::basic_string). LIBTORCH_CXX11_ABI=0|1 overrides the detection.
function readAbi(libdir) {
  const forced = process.env.LIBTORCH_CXX11_ABI;
  if (forced === '0' || forced === '1') return Number(forced);
  try {
    const symbols = execFileSync('nm', ['-D', '--defined-only', join(libdir, 'libc10.so')], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    return symbols.includes('cxx11') ? 1 : 0;
  } catch {
    return 1;
  }
}

/** The folder holding gloo/config.h (libtorch's own include folders first, then the system's), or null. */
export function findGloo(includes) {
  return [...includes, '/usr/include', '/usr/local/include'].find((d) => existsSync(join(d, 'gloo/config.h'))) ?? null;
}

/**
 * Locates libtorch. Returns null when none is installed; throws when LIBTORCH is set but wrong,
 * or when the version is older than MIN_VERSION (PDENET_SKIP_VERSION_CHECK=1 bypasses the check).
 */
export function findLibtorch() {
  const env = process.env.LIBTORCH;
  const found = env ? fromRoot(env) : fromSystem();
  if (!found) return null;
  const version = readVersion(found.includes);
  const tooOld = version.major < MIN_VERSION[0] || (version.major === MIN_VERSION[0] && version.minor < MIN_VERSION[1]);
  if (tooOld && process.env.PDENET_SKIP_VERSION_CHECK !== '1') {
    throw new Error(
      `libtorch ${version.string} at ${found.root} is older than ${MIN_VERSION.join('.')}, ` +
        'the oldest pdenet supports (set PDENET_SKIP_VERSION_CHECK=1 to try anyway).',
    );
  }
  const tested = TESTED.includes(`${version.major}.${version.minor}`);
  const cuda = existsSync(join(found.libdir, 'libtorch_cuda.so'));
  return { ...found, version, tested, cuda, gloo: findGloo(found.includes), cxx11abi: readAbi(found.libdir) };
}

/** One line describing what was found, for build and bootstrap logs. */
export function describe(lt) {
  return (
    `libtorch ${lt.version.string} (${lt.source}: ${lt.libdir}, C++11 ABI ${lt.cxx11abi}` +
    `${lt.cuda ? ', CUDA' : ''}${lt.gloo ? ', gloo' : ', no gloo headers: no distributed training'})${lt.tested ? '' : ' — not a version pdenet is tested with'}`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lt = findLibtorch();
  if (!lt) {
    console.error('libtorch not found: set LIBTORCH=/path/to/libtorch or run: sudo apt-get install -y libtorch-dev');
    process.exit(1);
  }
  const what = process.argv[2];
  if (what === 'includes') console.log(lt.includes.join(' '));
  else if (what === 'libdir') console.log(lt.libdir);
  else if (what === 'abi') console.log(lt.cxx11abi);
  else if (what === 'gloo') console.log(lt.gloo ? 1 : 0);
  else console.log(JSON.stringify(lt, null, 2));
}
