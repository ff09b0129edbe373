using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Trellis.Core.Nodes;

namespace Trellis.Api.Proxy.Internal;

/// <summary>A bearer token a request presented, with its SHA-256 (what the gateway keeps of a token) and that hash in
/// hex (the key of the gateway's token table).</summary>
/// <remarks>An HTTP/1.x client sends the same token on every request of a connection, so the last token a connection
/// presented is kept on it with its hash, and a request with that same token is not hashed again. Only the hash is
/// reused: whose token it is (a node's, the admin's) is looked up on every request, so a deleted node's token stops
/// working at once. The token lives as long as its connection, as Kestrel's own copy of the header value does. Requests
/// of an HTTP/2 connection run side by side, so there each one hashes its token.</remarks>
internal sealed class PresentedToken
{
    private static readonly object Key = new();

    private PresentedToken(string token)
    {
        Token = token;
        Hash = NodeCredentials.Hash(token);
        Hex = Convert.ToHexString(Hash);
    }

    public string Token { get; }

    /// <summary>SHA-256 of the token's UTF-8 bytes.</summary>
    public byte[] Hash { get; }

    /// <summary><see cref="Hash"/> in uppercase hex.</summary>
    public string Hex { get; }

    /// <summary>Whether this is the token whose hash is <paramref name="storedHash"/>, compared in constant time.</summary>
    public bool Matches(byte[]? storedHash) => storedHash is not null && CryptographicOperations.FixedTimeEquals(Hash, storedHash);

    /// <summary><paramref name="token"/>, presented by <paramref name="context"/>'s request, hashed at most once per
    /// HTTP/1.x connection while the connection keeps presenting it.</summary>
    public static PresentedToken Of(HttpContext context, string token)
    {
        var items = HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)
            ? context.Features.Get<IConnectionItemsFeature>()?.Items
            : null;
        if (items is null)
        {
            return new PresentedToken(token);
        }

        if (items.TryGetValue(Key, out var kept) && kept is PresentedToken last && string.Equals(last.Token, token, StringComparison.Ordinal))
        {
            return last;
        }

        var presented = new PresentedToken(token);
        items[Key] = presented;
        return presented;
    }
}
