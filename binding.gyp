{
  "targets": [
    {
      "target_name": "pdenet",
      "sources": [
        "csrc/torch_api.cpp",
        "csrc/conv2d.cpp",
        "csrc/gelu.cpp",
        "csrc/napi_values.cc",
        "csrc/napi_functions.cc",
        "csrc/distributed.cpp",
        "csrc/napi_distributed.cc",
        "csrc/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/libtorch.mjs includes)"
      ],
      "conditions": [
        ["<!(node scripts/libtorch.mjs gloo)==1", { "defines": ["USE_C10D_GLOO"] }]
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/libtorch.mjs abi)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-idirafter", "../csrc/compat", "-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations", "-Wno-stringop-overflow"],
      "libraries": [
        "-L<!(node scripts/libtorch.mjs libdir)",
        "-Wl,-rpath,<!(node scripts/libtorch.mjs libdir)",
        "-Wl,--no-as-needed",
        "-ltorch",
        "-ltorch_cpu",
        "-lc10"
      ]
    }
  ]
}
