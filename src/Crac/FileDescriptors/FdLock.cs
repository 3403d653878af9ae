using System.Text.Json.Serialization;
using Crac.Diagnostics;

namespace Crac.FileDescriptors;

/// <summary>The lock a descriptor holds on its file, from its fdinfo.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<FdLock>))]
internal enum FdLock
{
    None,
    Shared,
    Exclusive,
}
