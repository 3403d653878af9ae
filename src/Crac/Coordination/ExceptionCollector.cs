namespace Crac.Coordination;

/// <summary>
/// Collects the failures of one notification pass into a single aggregate exception, as CRaC's
/// ExceptionHolder does: an aggregate of the same kind coming from a nested context is
/// flattened into this one; anything else becomes a suppressed child.
/// </summary>
internal sealed class ExceptionCollector<TException>(Func<TException> create)
    where TException : CracException
{
    private TException? _exception;

    public bool HasException => _exception is not null;

    public TException Exception => _exception ??= create();

    public void Add(Exception exception)
    {
        if (exception is CracException { IsAggregate: true } aggregate)
        {
            foreach (Exception suppressed in aggregate.Suppressed)
            {
                Exception.AddSuppressed(suppressed);
            }

            return;
        }

        Exception.AddSuppressed(exception);
    }

    public void ThrowIfAny()
    {
        if (_exception is not null)
        {
            throw _exception;
        }
    }
}
