using System.Text.RegularExpressions;

namespace Crac.Tool.Inspect;

/// <summary>
/// What a likely secret looks like in memory: each kind a pattern that wants the secret's value,
/// not just its label (a library's "-----BEGIN PRIVATE KEY-----" constant, or "Password=" in a
/// format string, is no secret). The patterns run over text seen two ways: bytes as Latin-1
/// (UTF-8 and ASCII buffers) and pairs of bytes as UTF-16 (.NET strings and char arrays).
/// </summary>
internal static partial class SecretPatterns
{
    /// <summary>One kind of secret: its name as printed, and its pattern.</summary>
    internal sealed record Kind(string Name, Regex Pattern);

    public static IReadOnlyList<Kind> All { get; } =
    [
        new("private key block (PEM)", PrivateKeyBlock()),
        new("connection string with a password", ConnectionStringPassword()),
        new("URL with a password", UrlCredentials()),
        new("bearer token", BearerToken()),
        new("JSON web token", JsonWebToken()),
        new("AWS access key id", AwsAccessKeyId()),
        new("AWS secret access key", AwsSecretAccessKey()),
        new("Azure storage account key", AzureAccountKey()),
        new("GitHub token", GitHubToken()),
        new("Slack token", SlackToken()),
        new("Stripe live key", StripeKey()),
        new("Google API key", GoogleApiKey()),
        new("client secret or API key assignment", SecretAssignment()),
    ];

    // The body must follow: at least a line of base64 after the label.
    [GeneratedRegex(@"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----\r?\n(?:[A-Za-z0-9+/=:, \-]*\r?\n)?[A-Za-z0-9+/]{40,}")]
    private static partial Regex PrivateKeyBlock();

    // Password=value in ADO.NET, Npgsql, MySQL connection strings; a value that is a placeholder ({0}, ***, <...>, $(...)) is not one.
    [GeneratedRegex(@"(?i)(?<![A-Za-z])(?:password|pwd)\s*=\s*(?![{*<$%])(?:""[^""\r\n]{3,}""|'[^'\r\n]{3,}'|[^;""'\s\x00]{3,})(?=[;""'\s]|$)")]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"\b[a-z][a-z0-9+.\-]{1,15}://[^\s/:@""'<>\x00]{1,64}:[^\s/:@""'<>{}\x00]{3,128}@[A-Za-z0-9.\-\[\]]{2,}")]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{20,}=*")]
    private static partial Regex BearerToken();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,}")]
    private static partial Regex JsonWebToken();

    [GeneratedRegex(@"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")]
    private static partial Regex AwsAccessKeyId();

    [GeneratedRegex(@"(?i)aws_?secret_?access_?key[""']?\s*[=:]\s*[""']?[A-Za-z0-9/+]{40}\b")]
    private static partial Regex AwsSecretAccessKey();

    [GeneratedRegex(@"(?i)AccountKey=[A-Za-z0-9+/]{60,}={0,2}")]
    private static partial Regex AzureAccountKey();

    [GeneratedRegex(@"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b")]
    private static partial Regex GitHubToken();

    [GeneratedRegex(@"\bxox[abprs]-[A-Za-z0-9\-]{10,}")]
    private static partial Regex SlackToken();

    [GeneratedRegex(@"\b[rs]k_live_[A-Za-z0-9]{20,}")]
    private static partial Regex StripeKey();

    [GeneratedRegex(@"\bAIza[0-9A-Za-z_\-]{35}\b")]
    private static partial Regex GoogleApiKey();

    [GeneratedRegex(@"(?i)\b(?:client_?secret|api_?key|secret_?key|access_?token)[""']?\s*[=:]\s*[""']?[A-Za-z0-9_\-+/.=~]{20,}")]
    private static partial Regex SecretAssignment();
}
