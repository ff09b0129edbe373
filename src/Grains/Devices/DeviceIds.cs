namespace Trellis.Grains.Devices;

/// <summary>The rules of a device's provider id: 1 to 64 characters of a-z, 0-9 and '-' (the agent's default is 12 lowercase
/// hex digits, its first network card's hardware address).</summary>
public static class DeviceIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? provider) =>
        provider is { Length: > 0 and <= MaxLength } && provider.All(static c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');

    /// <summary>Why <paramref name="provider"/> is not a provider id, or null when it is one.</summary>
    public static string? Problem(string? provider) => IsValid(provider)
        ? null
        : string.IsNullOrEmpty(provider)
            ? "the provider id is missing (1 to 64 characters of a-z, 0-9 and '-', for example 0242ac110002)"
            : $"provider id '{(provider.Length > 80 ? provider[..80] + "…" : provider)}' is not valid: use 1 to 64 characters of a-z, 0-9 and '-' (lowercase)";
}
