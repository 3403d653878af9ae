namespace Crac.Configuration;

internal enum EngineOptionKind
{
    Boolean,
    Integer,
    Text,
    Path,
}
