using System.Text.Json.Serialization;

namespace Crac.Engines;

/// <summary>The image metadata file's serialisation (crac-image.json), source-generated.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ImageMetadata))]
[JsonSerializable(typeof(ImageManifest))]
internal sealed partial class ImageJsonContext : JsonSerializerContext;
