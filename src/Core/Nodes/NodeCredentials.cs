using System.Security.Cryptography;
using System.Text;

namespace Trellis.Core.Nodes;

/// <summary>Node ids and node-scoped bearer tokens: random, and only a SHA-256 hash of a token is kept.</summary>
public static class NodeCredentials
{
    /// <summary>Bytes of randomness in a token (256 bits).</summary>
    public const int TokenBytes = 32;

    /// <summary>A new node id: 32 random lowercase hex characters.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>Whether <paramref name="id"/> has the shape of a node id (so bad ids are refused before any lookup).</summary>
    public static bool IsWellFormedId(string? id)
    {
        if (id is not { Length: 32 })
        {
            return false;
        }

        foreach (var c in id)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A new token: 32 random bytes, base64url without padding.</summary>
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(TokenBytes));

    /// <summary>The SHA-256 of a token's UTF-8 bytes.</summary>
    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>Compares a presented token with a stored hash in constant time.</summary>
    public static bool Matches(string token, ReadOnlySpan<byte> storedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(token), storedHash);

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
