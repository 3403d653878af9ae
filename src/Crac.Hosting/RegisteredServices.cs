using Microsoft.Extensions.DependencyInjection;

namespace Crac.Hosting;

/// <summary>
/// The application's service collection, kept so that the services implementing
/// <see cref="IResource"/> can be found when the host starts, including those registered after
/// <c>AddCrac()</c>.
/// </summary>
internal sealed class RegisteredServices(IServiceCollection services)
{
    public IReadOnlyList<ServiceDescriptor> Descriptors => [.. services];
}
