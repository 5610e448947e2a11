import { mutateDataVolumeAdmission, validateDataVolumeAdmission, type CloneAccess, type DataVolumeLookups } from './datavolume.ts';
import { mutatePvcAdmission, type ProfileLookups } from './pvc.ts';
import { AdmissionInputError, parseAdmissionReview, reviewOf, type AdmissionRequest, type AdmissionResponse, type AdmissionReview } from './review.ts';

/**
 * The webhook paths of CDI's API server (pkg/apiserver/apiserver.go) and what answers each.
 * A body that is no AdmissionReview is answered 400 with a review whose status says why, so
 * both kube-apiserver and a person with curl get a reason.
 */
export interface AdmissionBackends {
  dataVolumes: DataVolumeLookups;
  cloneAccess: CloneAccess;
  profiles: ProfileLookups;
}

type Admitter = (request: AdmissionRequest, backends: AdmissionBackends) => Promise<AdmissionResponse>;

export const AdmissionEndpoints: Readonly<Record<string, Admitter>> = {
  '/datavolume-validate': (r, b) => validateDataVolumeAdmission(r, b.dataVolumes),
  '/datavolume-mutate': (r, b) => mutateDataVolumeAdmission(r, b.cloneAccess),
  '/pvc-mutate': (r, b) => mutatePvcAdmission(r, b.profiles),
};

export async function answerAdmissionReview(admit: Admitter, body: unknown, backends: AdmissionBackends): Promise<{ httpStatus: number; review: AdmissionReview }> {
  let request: AdmissionRequest;
  try {
    request = parseAdmissionReview(body);
  } catch (err) {
    if (!(err instanceof AdmissionInputError)) throw err;
    return { httpStatus: 400, review: reviewOf({ uid: '', allowed: false, status: { code: 400, message: err.message } }) };
  }
  return { httpStatus: 200, review: reviewOf(await admit(request, backends)) };
}
