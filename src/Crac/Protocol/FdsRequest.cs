using Crac.Configuration;

namespace Crac.Protocol;

/// <summary>Lists the descriptors, judged with the operator's policies (if given) ahead of the process's own.</summary>
internal sealed record FdsRequest(PolicyText? Policies = null);
