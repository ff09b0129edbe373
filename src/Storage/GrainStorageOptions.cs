namespace Trellis.Storage;

/// <summary>Limits of grain state writes, shared by every store (section <c>Trellis:Storage:Grains</c>).</summary>
public sealed class GrainStorageOptions
{
    public const int DefaultMaxStateBytes = 16 * 1024 * 1024;

    /// <summary>Largest state a grain may write; larger writes fail with an ArgumentException naming <c>state</c>.</summary>
    public int MaxStateBytes { get; set; } = DefaultMaxStateBytes;

    /// <summary>Most writes committed in one transaction (group commit).</summary>
    public int MaxBatchSize { get; set; } = 256;

    /// <summary>Most state bytes committed in one transaction; a single larger write still goes alone.</summary>
    public int MaxBatchBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Writes that may wait for the writer; when full, further writers wait (back-pressure) until room frees or their token fires.</summary>
    public int QueueCapacity { get; set; } = 4096;

    /// <summary>Throws an ArgumentException naming the first invalid option.</summary>
    public void Validate()
    {
        Positive(MaxStateBytes, nameof(MaxStateBytes));
        Positive(MaxBatchSize, nameof(MaxBatchSize));
        Positive(MaxBatchBytes, nameof(MaxBatchBytes));
        Positive(QueueCapacity, nameof(QueueCapacity));

        static void Positive(int value, string name)
        {
            if (value <= 0)
            {
                throw new ArgumentOutOfRangeException(name, value, $"Trellis:Storage:Grains:{name} must be positive.");
            }
        }
    }
}
