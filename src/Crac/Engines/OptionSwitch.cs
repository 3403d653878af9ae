using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.Engines;

/// <summary>An engine option that is on, off, or decided for the process at hand.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<OptionSwitch>))]
internal enum OptionSwitch
{
    Auto,
    On,
    Off,
}
