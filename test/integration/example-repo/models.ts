/**
 * Schema validation of rendered and committed objects with the kubernetes-models packages
 * (JSON schemas generated from the projects' CRDs).
 */
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1';
import { VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1beta1';

/**
 * Validates a VirtualService against Istio's CRD schema. @kubernetes-models/istio 2.3 is
 * generated from Istio 1.18, which predates networking.istio.io/v1; v1 (Istio 1.22+) is
 * v1beta1 promoted unchanged, so the v1beta1 schema is checked with the apiVersion swapped.
 */
export function validateVirtualService(object: unknown): void {
  const { apiVersion } = object as { apiVersion?: unknown };
  if (apiVersion !== 'networking.istio.io/v1' && apiVersion !== VirtualService.apiVersion) {
    throw new Error(`not a VirtualService apiVersion: ${String(apiVersion)}`);
  }
  const data = { ...(object as object), apiVersion: VirtualService.apiVersion };
  new VirtualService(data as ConstructorParameters<typeof VirtualService>[0]).validate();
}

export function validateApplication(object: unknown): void {
  new Application(object as ConstructorParameters<typeof Application>[0]).validate();
}
