using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;

// The status benchmark's baseline: a fresh process that makes one plain diagnostics call to a
// process and exits. The benchmark runs it as the tool is built: published NativeAOT, and also
// on the JIT as a framework-dependent app (see docs/performance.md).
_ = new DiagnosticsClient(int.Parse(args[0], CultureInfo.InvariantCulture)).GetProcessEnvironment();
