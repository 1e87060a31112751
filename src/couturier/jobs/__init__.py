"""Jobs: units of work (a build, later a refresh or a delivery) that outlive a request.

:mod:`~couturier.jobs.queue` is the port the services use (:class:`JobQueue`, a small
``Protocol``) and the job as a worker sees it (:class:`ClaimedJob`);
:mod:`~couturier.jobs.embedded` is the embedded backend: jobs in the database's ``jobs`` table,
run by threads of the serving process (``couturier serve --workers N``). A procrastinate
backend (:mod:`~couturier.jobs.procrastinate_queue`, ``couturier worker`` on PostgreSQL) is the
same port over procrastinate's tables.
"""

from couturier.jobs.embedded import EmbeddedQueue
from couturier.jobs.queue import ClaimedJob, JobHandler, JobQueue

__all__ = ["ClaimedJob", "EmbeddedQueue", "JobHandler", "JobQueue"]
