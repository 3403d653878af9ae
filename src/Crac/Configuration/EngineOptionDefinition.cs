namespace Crac.Configuration;

/// <summary>One option an engine accepts in CRAC_ENGINE_OPTIONS (or --engine-options).</summary>
internal sealed record EngineOptionDefinition(string Name, EngineOptionKind Kind, string DefaultValue, string Description)
{
    public string TypeName => Kind switch
    {
        EngineOptionKind.Boolean => "bool",
        EngineOptionKind.Integer => "int",
        EngineOptionKind.Path => "path",
        EngineOptionKind.Text => "string",
    };
}
