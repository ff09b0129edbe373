using System.Security.Cryptography;
using System.Text;

namespace Trellis.Api.Flows.Fbp.Internal;

/// <summary>The secret every message must carry when one is configured, compared in constant time.</summary>
internal sealed class FbpAuth(string? secret)
{
    private readonly byte[]? _hash = secret is { Length: > 0 } ? Hash(secret) : null;

    public bool Required => _hash is not null;

    public bool Accepts(string? candidate) =>
        _hash is null || (candidate is not null && CryptographicOperations.FixedTimeEquals(Hash(candidate), _hash));

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
