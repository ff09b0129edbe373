using System.Runtime.InteropServices;

namespace Trellis.Storage.Internal;

/// <summary>The drivers bind byte[]; reuse the caller's array when the memory spans all of it, else copy.</summary>
internal static class ByteArrays
{
    public static byte[] Of(ReadOnlyMemory<byte> memory)
        => MemoryMarshal.TryGetArray(memory, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : memory.ToArray();
}
