"""carto_async: an async-first Python SDK for the CARTO HTTP APIs.

``AsyncCarto`` is the async client (asyncio and trio); ``Carto`` is its blocking twin,
generated from the same source. ``carto_async.testing.LocalCarto`` is a local
CARTO-compatible server for tests and offline work.
"""

import attrs as _attrs

from carto_async._async.batch import AsyncBatchJob as AsyncBatchJob
from carto_async._async.client import AsyncCarto as AsyncCarto
from carto_async._async.exports import AsyncExportJob as AsyncExportJob
from carto_async._async.exports import AsyncExports as AsyncExports
from carto_async._async.imports import AsyncImportJob as AsyncImportJob
from carto_async._async.imports import AsyncImports as AsyncImports
from carto_async._async.imports import ProgressCallback as ProgressCallback
from carto_async._async.imports import UploadSource as UploadSource
from carto_async._async.jobs import AsyncJob as AsyncJob
from carto_async._async.jobs import AsyncJobs as AsyncJobs
from carto_async._async.sql import AsyncSQL as AsyncSQL
from carto_async._async.syncs import AsyncSyncRun as AsyncSyncRun
from carto_async._async.syncs import AsyncSyncs as AsyncSyncs
from carto_async._async.transport import AsyncStreamedResponse as AsyncStreamedResponse
from carto_async._async.visualizations import AsyncVisualizations as AsyncVisualizations
from carto_async._core.credentials import Credentials as Credentials
from carto_async._core.http import RateLimitInfo as RateLimitInfo
from carto_async._core.jobs import Outcome as Outcome
from carto_async._core.polling import PollPolicy as PollPolicy
from carto_async._core.retry import RetryPolicy as RetryPolicy
from carto_async._core.sql_template import Identifier as Identifier
from carto_async._sync.batch import BatchJob as BatchJob
from carto_async._sync.client import Carto as Carto
from carto_async._sync.exports import ExportJob as ExportJob
from carto_async._sync.exports import Exports as Exports
from carto_async._sync.imports import ImportJob as ImportJob
from carto_async._sync.imports import Imports as Imports
from carto_async._sync.jobs import Job as Job
from carto_async._sync.jobs import Jobs as Jobs
from carto_async._sync.sql import SQL as SQL
from carto_async._sync.syncs import SyncRun as SyncRun
from carto_async._sync.syncs import Syncs as Syncs
from carto_async._sync.transport import StreamedResponse as StreamedResponse
from carto_async._sync.visualizations import Visualizations as Visualizations
from carto_async._version import __version__ as __version__
from carto_async.errors import APIConnectionError as APIConnectionError
from carto_async.errors import APIError as APIError
from carto_async.errors import APIStatusError as APIStatusError
from carto_async.errors import APITimeoutError as APITimeoutError
from carto_async.errors import AuthenticationError as AuthenticationError
from carto_async.errors import BadRequestError as BadRequestError
from carto_async.errors import BatchJobFailed as BatchJobFailed
from carto_async.errors import CartoError as CartoError
from carto_async.errors import ConflictError as ConflictError
from carto_async.errors import CopyError as CopyError
from carto_async.errors import CopyFailedError as CopyFailedError
from carto_async.errors import CopyGzipError as CopyGzipError
from carto_async.errors import CopyInputTooSlowError as CopyInputTooSlowError
from carto_async.errors import CopyInterruptedError as CopyInterruptedError
from carto_async.errors import CopySizeLimitError as CopySizeLimitError
from carto_async.errors import ExportFailed as ExportFailed
from carto_async.errors import ImportFailed as ImportFailed
from carto_async.errors import JobError as JobError
from carto_async.errors import JobFailed as JobFailed
from carto_async.errors import JobTimeout as JobTimeout
from carto_async.errors import NoRowsCopiedError as NoRowsCopiedError
from carto_async.errors import NotFoundError as NotFoundError
from carto_async.errors import PermissionDeniedError as PermissionDeniedError
from carto_async.errors import QuotaExceededError as QuotaExceededError
from carto_async.errors import RateLimitError as RateLimitError
from carto_async.errors import RateLimitKind as RateLimitKind
from carto_async.errors import ServerError as ServerError
from carto_async.errors import SourceChangedError as SourceChangedError
from carto_async.errors import SyncFailed as SyncFailed
from carto_async.errors import UnprocessableEntityError as UnprocessableEntityError
from carto_async.errors import ValidationError as ValidationError
from carto_async.models.api_keys import ApiKey as ApiKey
from carto_async.models.api_keys import ApiKeyPage as ApiKeyPage
from carto_async.models.api_keys import ApiKeyType as ApiKeyType
from carto_async.models.api_keys import GrantedApi as GrantedApi
from carto_async.models.api_keys import TableGrant as TableGrant
from carto_async.models.api_keys import TablePermission as TablePermission
from carto_async.models.batch import BatchJobStatus as BatchJobStatus
from carto_async.models.batch import BatchQuery as BatchQuery
from carto_async.models.batch import FallbackJob as FallbackJob
from carto_async.models.exports import VisualizationExport as VisualizationExport
from carto_async.models.imports import CollisionStrategy as CollisionStrategy
from carto_async.models.imports import ImportErrorText as ImportErrorText
from carto_async.models.imports import ImportStatus as ImportStatus
from carto_async.models.imports import Privacy as Privacy
from carto_async.models.sql import Bounds as Bounds
from carto_async.models.sql import CopyResult as CopyResult
from carto_async.models.sql import SQLField as SQLField
from carto_async.models.sql import SQLResult as SQLResult
from carto_async.models.syncs import DataImport as DataImport
from carto_async.models.syncs import Sync as Sync
from carto_async.models.syncs import SyncNowRefusal as SyncNowRefusal
from carto_async.models.visualizations import Table as Table
from carto_async.models.visualizations import Visualization as Visualization
from carto_async.models.visualizations import VisualizationType as VisualizationType

__all__ = [
    "SQL",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKey",
    "ApiKeyPage",
    "ApiKeyType",
    "AsyncBatchJob",
    "AsyncCarto",
    "AsyncExportJob",
    "AsyncExports",
    "AsyncImportJob",
    "AsyncImports",
    "AsyncJob",
    "AsyncJobs",
    "AsyncSQL",
    "AsyncStreamedResponse",
    "AsyncSyncRun",
    "AsyncSyncs",
    "AsyncVisualizations",
    "AuthenticationError",
    "BadRequestError",
    "BatchJob",
    "BatchJobFailed",
    "BatchJobStatus",
    "BatchQuery",
    "Bounds",
    "Carto",
    "CartoError",
    "CollisionStrategy",
    "ConflictError",
    "CopyError",
    "CopyFailedError",
    "CopyGzipError",
    "CopyInputTooSlowError",
    "CopyInterruptedError",
    "CopyResult",
    "CopySizeLimitError",
    "Credentials",
    "DataImport",
    "ExportFailed",
    "ExportJob",
    "Exports",
    "FallbackJob",
    "GrantedApi",
    "Identifier",
    "ImportErrorText",
    "ImportFailed",
    "ImportJob",
    "ImportStatus",
    "Imports",
    "Job",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "Jobs",
    "NoRowsCopiedError",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "PollPolicy",
    "Privacy",
    "ProgressCallback",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimitKind",
    "RetryPolicy",
    "SQLField",
    "SQLResult",
    "ServerError",
    "SourceChangedError",
    "StreamedResponse",
    "Sync",
    "SyncFailed",
    "SyncNowRefusal",
    "SyncRun",
    "Syncs",
    "Table",
    "TableGrant",
    "TablePermission",
    "UnprocessableEntityError",
    "UploadSource",
    "ValidationError",
    "Visualization",
    "VisualizationExport",
    "VisualizationType",
    "Visualizations",
    "__version__",
]

# Every public name reports the module it is imported from (``carto_async.Carto``, not the
# private module that defines it): in reprs, tracebacks, docs and pickles. An attrs class's
# string annotations are resolved first, in the module that wrote them (cattrs reads them).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__ != __name__:
        if _attrs.has(_obj):
            _attrs.resolve_types(_obj)
        _obj.__module__ = __name__
del _name, _obj
